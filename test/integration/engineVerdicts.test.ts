import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { startHarness, waitFor } from '../helpers/engineHarness';

for (const stateShape of ['array', 'scans'] as const) {
  test(`every verdict reaches the right folder (state shape: ${stateShape})`, async () => {
    const h = await startHarness({ emulator: { stateShape } });
    const files: Record<string, { body: string; dest: 'out' | 'qrnt'; verdict: string }> = {
      'clean.txt': { body: 'hello, world\n', dest: 'out', verdict: 'not detected' },
      'eicar.com': { body: EICAR + '\r\n', dest: 'qrnt', verdict: 'detect' },
      'broken.bin': { body: 'KDS-TEST-ERROR and then some', dest: 'qrnt', verdict: 'error' },
      'slow-kata.bin': { body: 'KDS-TEST-TIMEOUT payload', dest: 'qrnt', verdict: 'timeout' },
    };
    for (const [name, f] of Object.entries(files)) writeFileSync(join(h.dirs.in, name), f.body);
    await waitFor('all four routed', () => h.routed.length >= 4);
    for (const [name, f] of Object.entries(files)) {
      const r = h.routed.find((x) => x.name === name)!;
      assert.equal(r.verdict, f.verdict, name);
      assert.equal(r.destination, f.dest, name);
      assert.equal(readFileSync(join(h.dirs[f.dest], name), 'utf8'), f.body, name);
      assert.equal(existsSync(join(h.dirs[f.dest === 'out' ? 'qrnt' : 'out'], name)), false, name);
    }
    assert.deepEqual(readdirSync(h.dirs.in), []);
    // Consumed results are deleted at KATA.
    await waitFor('results deleted', () => h.emulator.stats().deletes >= 4);
  });
}
