'use strict';
// Preloaded (node --require) into the engine process by scripts/bench.ts. Samples memory every
// KDS_BENCH_PROBE_MS (default 10) and writes the peaks seen so far as one JSON line on stdout
// every 100 ms; SIGUSR2 resets the peaks. `kds run` writes nothing to stdout, so the lines are the probe's alone.
const every = Number(process.env.KDS_BENCH_PROBE_MS || 10);
const peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
let last = 0;
const sample = () => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak)) if (m[k] > peak[k]) peak[k] = m[k];
  const now = Date.now();
  if (now - last >= 100) {
    last = now;
    process.stdout.write(JSON.stringify({ peak, now: m, cpu: process.cpuUsage() }) + '\n');
  }
};
setInterval(sample, every).unref();
// SIGUSR2 starts a new measurement (the bench sends it once the engine is idle).
process.on('SIGUSR2', () => {
  for (const k of Object.keys(peak)) peak[k] = 0;
  last = 0;
  sample();
});
