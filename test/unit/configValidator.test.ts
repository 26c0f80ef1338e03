/*
 * The configuration schema is compiled at build time (scripts/configValidator.mjs writes
 * src/engine/configValidator.generated.ts). These tests hold the generated validator to the
 * schema: the committed file is what the schema generates now, and it accepts and refuses
 * exactly what ajv.compile of the schema does, with the same errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configAjv, configValidatorSource, generatedFile, schemaFile } from '../../scripts/configValidator.mjs';
import validateGenerated from '../../src/engine/configValidator.generated';
import { originalTemplate } from '../../src/engine/config';

type Validate = ((data: unknown) => boolean) & { errors?: unknown[] | null };
const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as { properties: Record<string, unknown> };
const SID = '0f8fad5b-d9cb-469f-a165-70867728950e';

test('the committed validator is the one the schema generates now (run npm run build after changing the schema)', () => {
  assert.equal(readFileSync(generatedFile, 'utf8'), configValidatorSource(), `${generatedFile} is stale: npm run build writes it again`);
});

test('the generated validator and the schema compiled by ajv give the same answer and the same errors', () => {
  const compiled = configAjv().compile(schema) as Validate;
  const generated = validateGenerated as Validate;
  const base: Record<string, unknown> = { ...originalTemplate, system_id: SID };
  const odd = [null, true, 0, -1, 1.5, 70000, '', 'x', ' /mnt/in ', 'a'.repeat(5000), [], ['x'], {}, { a: 1 }];
  const cases: unknown[] = [base, {}, [], 'text', null, { ...base, unknown_key: 1 }, { ...base, shares: [{ name: 'a', in_dir: '/a', out_dir: '/b', qrnt_dir: '/c' }] }];
  for (const key of Object.keys(schema.properties)) {
    for (const value of odd) cases.push({ ...base, [key]: value });
    const { [key]: _, ...without } = base;
    cases.push(without);
  }
  for (const value of odd) cases.push({ ...base, shares: [{ name: 'a', in_dir: value, out_dir: '/b', qrnt_dir: '/c', extra: 1 }] });
  let refused = 0;
  for (const data of cases) {
    const want = compiled(data);
    const got = generated(data);
    assert.equal(got, want, JSON.stringify(data));
    assert.deepEqual(generated.errors ?? null, compiled.errors ?? null, JSON.stringify(data));
    if (!got) refused++;
  }
  // The cases must exercise the errors, not only the valid path.
  assert.ok(refused > cases.length / 2, `${refused} of ${cases.length} refused`);
});
