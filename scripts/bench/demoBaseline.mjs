// THE YARDSTICK, NOT THE PRODUCT. Never shipped, never bundled (scripts/ is outside the build
// and .vscodeignore), never imported by src/. `npm run bench` runs it beside `kds run` against
// the same embedded KATA, as issue 12 did with the original demo's 60-line Python script.
//
// It does what kata_dir_scanner.py does and nothing more: list the folder, POST each new file
// over one keep-alive mutual-TLS connection, one GET for all states, a plain move (rename, or
// copy + unlink across file systems, like shutil.move), sleep poll_interval_s, repeat. No
// stability wait, no journal, no fsync, no retries beyond "try again next round".
//
//   node scripts/bench/demoBaseline.mjs CONFIG.json
// CONFIG: { in_dir, out_dir, qrnt_dir, cert_pem, cert_key, ca, url, system_id, poll_interval_s,
//           stop_after }   (stop_after: stop once that many files were moved, and idle until killed)
import { randomUUID } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';

const conf = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const agent = new Agent({
  keepAlive: true,
  maxSockets: 1,
  cert: readFileSync(conf.cert_pem),
  key: readFileSync(conf.cert_key),
  ca: readFileSync(conf.ca),
});
const base = `${conf.url}/kata/scanner/v1/sensors/${encodeURIComponent(conf.system_id)}`;

function call(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(base + path, { method, agent, headers: { ...headers, 'Content-Length': body ? body.length : 0 } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function post(path, scanId) {
  const boundary = `----demo${randomUUID().replace(/-/g, '')}`;
  const content = readFileSync(path);
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="scanId"\r\n\r\n${scanId}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="objectType"\r\n\r\nfile\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="file"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return call('POST', '/scans', body, { 'Content-Type': `multipart/form-data; boundary=${boundary}` });
}

function move(src, dir, name) {
  try {
    renameSync(src, join(dir, name));
  } catch (err) {
    if (err.code !== 'EXDEV') throw err;
    copyFileSync(src, join(dir, name));
    unlinkSync(src);
  }
}

const submitted = new Map(); // scanId -> file name
const sent = new Set(); // file names already POSTed
let moved = 0;
process.stdout.write('ready\n');
for (;;) {
  for (const e of readdirSync(conf.in_dir, { withFileTypes: true })) {
    if (!e.isFile() || sent.has(e.name)) continue;
    const scanId = randomUUID();
    const r = await post(join(conf.in_dir, e.name), scanId);
    if (r.status !== 200) continue; // the next round tries again
    submitted.set(scanId, e.name);
    sent.add(e.name);
  }
  const r = await call('GET', '/scans/state');
  if (r.status === 200) {
    for (const item of JSON.parse(r.body)) {
      const scanId = String(item.scanId);
      const state = Array.isArray(item.state) ? item.state[0] : item.state;
      const name = submitted.get(scanId);
      if (name === undefined || state === 'processing') continue;
      move(join(conf.in_dir, name), state === 'not detected' ? conf.out_dir : conf.qrnt_dir, name);
      submitted.delete(scanId);
      sent.delete(name);
      moved++;
    }
  }
  if (conf.stop_after && moved >= conf.stop_after) break;
  await new Promise((r) => setTimeout(r, conf.poll_interval_s * 1000));
}
process.stdout.write(`moved ${moved}\n`);
agent.destroy();
// Stays until the bench ends it: the bench reads this process's CPU time from /proc first.
setInterval(() => undefined, 60_000);
