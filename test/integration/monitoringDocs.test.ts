import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import { EngineMetrics } from '../../src/observability/engineMetrics';
import { KdsMetrics } from '../../src/observability/metricsRegistry';
import { needPrometheus, promtoolBin } from '../helpers/prometheus';

const root = join(__dirname, '..', '..');
const rulesFile = join(root, 'docs', 'monitoring', 'kds-alerts.yml');
const dashboardFile = join(root, 'docs', 'monitoring', 'kds-dashboard.json');
const schemaDir = join(root, 'test', 'fixtures', 'grafana');

interface Panel {
  type: string;
  title?: string;
  options?: unknown;
  fieldConfig?: { defaults?: { custom?: unknown } };
  targets?: Array<{ expr: string }>;
}

const dashboard = () => JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: Panel[] };

function promtool(args: string[], input?: string): { code: number | null; out: string } {
  const r = spawnSync(promtoolBin, args, { cwd: root, encoding: 'utf8', input, timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The dashboard's queries as PromQL Prometheus can check: Grafana's variables replaced by what they stand for. */
function dashboardExprs(): Array<{ panel: string; expr: string }> {
  return dashboard()
    .panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? '', expr: t.expr })))
    .map((q) => ({ ...q, expr: q.expr.replace(/\$__rate_interval/g, '5m').replace(/\$instance|\$share/g, '.*') }));
}

test('the alert rules pass promtool check rules, and promtool test rules shows each one firing when it should and not before', (t) => {
  if (!needPrometheus(t)) return;
  const check = promtool(['check', 'rules', rulesFile]);
  assert.equal(check.code, 0, check.out);
  assert.match(check.out, /SUCCESS: 7 rules found/);
  const unit = promtool(['test', 'rules', join('test', 'fixtures', 'monitoring', 'kds-alerts.test.yml')]);
  assert.equal(unit.code, 0, unit.out);
  assert.match(unit.out, /SUCCESS/);
  // Every alert of the file has a unit test.
  const alerts = [...readFileSync(rulesFile, 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
  const tested = new Set([...readFileSync(join(root, 'test', 'fixtures', 'monitoring', 'kds-alerts.test.yml'), 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
  assert.deepEqual(alerts.filter((a) => !tested.has(a)), []);
});

test("the Grafana dashboard validates against Grafana's dashboard schema and its panels against their panel types' schemas", () => {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const load = (name: string) => JSON.parse(readFileSync(join(schemaDir, `${name}.jsonschema.json`), 'utf8')) as { definitions: Record<string, unknown> };
  const validateDashboard = ajv.compile(load('dashboard'));
  const d = dashboard();
  assert.ok(validateDashboard(d), ajv.errorsText(validateDashboard.errors, { separator: '\n' }));
  const panelSchemas: Record<string, { options: string; custom?: string }> = { timeseries: { options: 'Options', custom: 'FieldConfig' }, stat: { options: 'Options' } };
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
  const validator = (type: string, def: string) => {
    const key = `${type}#${def}`;
    if (!compiled.has(key)) {
      const s = load(type);
      compiled.set(key, ajv.compile({ $schema: 'http://json-schema.org/draft-07/schema#', $ref: `#/definitions/${def}`, definitions: s.definitions }));
    }
    return compiled.get(key)!;
  };
  const ids = new Set<unknown>();
  for (const p of d.panels) {
    ids.add((p as { id?: unknown }).id);
    if (p.type === 'row') continue;
    const s = panelSchemas[p.type];
    assert.ok(s, `panel "${p.title}" is a ${p.type}, a type whose schema is vendored`);
    const opts = validator(p.type, s.options);
    assert.ok(opts(p.options), `${p.title}: ${ajv.errorsText(opts.errors)}`);
    if (s.custom) {
      const custom = validator(p.type, s.custom);
      assert.ok(custom(p.fieldConfig?.defaults?.custom ?? {}), `${p.title}: ${ajv.errorsText(custom.errors)}`);
    }
    assert.ok((p.targets ?? []).length > 0, `${p.title} has a query`);
  }
  assert.equal(ids.size, d.panels.length, 'panel ids are unique');
});

test('every metric the dashboard and the alerts use is one KDS exposes, the exposition passes promtool check metrics, and the dashboard\'s PromQL parses', async (t) => {
  if (!needPrometheus(t)) return;
  const m = new KdsMetrics();
  new EngineMetrics(m, 'default').collect();
  const text = await m.text();
  const families = new Set([...text.matchAll(/^# TYPE (\S+) (\w+)$/gm)].map((x) => x[1]));
  const used = new Set<string>();
  for (const source of [readFileSync(rulesFile, 'utf8'), ...dashboardExprs().map((q) => q.expr)]) {
    for (const x of source.matchAll(/\b((?:kds|process|nodejs)_[a-z0-9_]+)\b/g)) used.add(x[1]!.replace(/_(bucket|count|sum)$/, ''));
  }
  assert.ok(used.size > 15, [...used].join(' '));
  assert.deepEqual([...used].filter((name) => !families.has(name)), []);

  const lint = promtool(['check', 'metrics'], text);
  // prom-client's own Node.js metrics are not ours to rename; KDS's must be clean.
  const ours = lint.out.split('\n').filter((l) => l.startsWith('kds_'));
  assert.deepEqual(ours, [], lint.out);

  const dir = mkdtempSync(join(tmpdir(), 'kds-dashboard-promql-'));
  try {
    const rules = ['groups:', '  - name: dashboard', '    rules:', ...dashboardExprs().map((q, i) => `      - record: kds:dashboard_query_${i}\n        expr: ${JSON.stringify(q.expr)}`), ''].join('\n');
    writeFileSync(join(dir, 'dashboard-queries.yml'), rules);
    const parsed = promtool(['check', 'rules', join(dir, 'dashboard-queries.yml')]);
    assert.equal(parsed.code, 0, parsed.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
