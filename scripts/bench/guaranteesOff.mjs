// A MEASUREMENT, NEVER A PRODUCT. Makes a copy of a built KDS (bin/, dist/, package.json) whose
// `kds run` leaves out the work its guarantees cost per file, so `sideBySide.ts` and the bench can
// show how much of the engine's CPU per file those guarantees are (docs/benchmarks.md, "Sixth
// round"). The copy loses files in a crash, leaves KATA's results behind and writes no audit
// trail: run it only against the bench's stand-in, never on data.
//
//   npm run build && node scripts/bench/guaranteesOff.mjs /tmp/kds-guarantees-off
//   KDS_SIDE_PINNED=1 node --import tsx scripts/bench/sideBySide.ts /tmp/kds-guarantees-off/bin/kds.js bin/kds.js 4 5000
//
// It patches the bundle's text, so each patch must match exactly once: when the engine's code
// changes under one of them, the script stops and names it rather than measuring something else.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const target = process.argv[2];
if (!target) {
  process.stderr.write('usage: node scripts/bench/guaranteesOff.mjs TARGET_DIR\n');
  process.exit(2);
}
rmSync(target, { recursive: true, force: true });
for (const part of ['bin', 'dist', 'package.json']) cpSync(join(root, part), join(target, part), { recursive: true });

const bundle = join(target, 'dist', 'kds-run.js');
let text = readFileSync(bundle, 'utf8');
const patches = [
  ['no DELETE of KATA\'s results', /( +async deleteResult\(scanId\) \{\n)/, '$1        if (scanId) return;\n'],
  ['no fdatasync in the journal\'s group commits', /await fdatasyncAsync\(this\.fd\);/, 'void 0;'],
  ['no event-stream lines', /( +lines\(records\) \{\n)/, '$1        if (records.length) return;\n'],
  [
    'no per-file log lines (submitted, verdict, routed)',
    /( +log\(level, event, msg, fields = \{\}\) \{\n +if \(rank\[level\] < rank\[this\.level\]\) return;\n)/,
    '$1        if (event === "submitted" || event === "verdict" || event === "routed") return;\n',
  ],
  ['no fsync of the delivered copy', /( +sync\(\) \{\n) +return new Promise\(\(resolve\d*, reject\d*\) => fs\.fsync\(this\.fd, [^\n]*\n/, '$1        return Promise.resolve();\n'],
  ['no look for an earlier aside file before the rename', /( +)let st = await fs2\.lstatIfAny\(aside\);\n( +if \(!st\) \{)/, '$1let st;\n$2'],
  [
    'no check of the aside file before its unlink',
    /const st = await fs2\.lstatIfAny\(aside\);\n( +)if \(!st\) return \{ kind: "gone" \};\n( +)const same = isVersion/,
    'const st = { isFile: () => true, nlink: 1 };\n$2const same = true || isVersion',
  ],
];
for (const [what, pattern, replacement] of patches) {
  const found = text.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
  if (found !== 1) {
    process.stderr.write(`guaranteesOff: "${what}" matches ${found} places in dist/kds-run.js (needs 1); update this script to the engine's code\n`);
    process.exit(1);
  }
  text = text.replace(pattern, replacement);
}
writeFileSync(bundle, text);
process.stdout.write(`${target}: ${patches.map(([what]) => what).join('; ')}\n`);
