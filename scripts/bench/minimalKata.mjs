// A MINIMAL KATA STAND-IN for the bench, never shipped (scripts/ is outside the build and
// .vscodeignore). It answers KATA's scanner API in constant time and does no work: it hashes
// nothing, stores nothing, scans nothing. A POST is read for its scanId (the first form field,
// in the first bytes of the body) and the rest of the body is discarded unread; every scan is
// "not detected" `verdictMs` after its upload; DELETE forgets a scan. Mutual TLS as KATA
// (a client certificate is asked for; which one is not checked). Its own process, so the bench
// can pin it to one core (taskset) and read its CPU apart from the client's.
//
//   node scripts/bench/minimalKata.mjs KEY.pem CERT.pem VERDICT_MS
// prints "listening PORT" on stdout once it accepts connections.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [keyPath, certPath, verdictArg] = process.argv.slice(2);
const verdictMs = Number(verdictArg ?? 200);
const prefix = '/kata/scanner/v1/sensors/';
/** sensorId → (scanId → when its verdict is due) */
const sensors = new Map();
const scanIdField = /name="scanId"\r\n\r\n([^\r]{1,256})\r\n/;

function scansOf(sensor) {
  let m = sensors.get(sensor);
  if (!m) sensors.set(sensor, (m = new Map()));
  return m;
}

function answer(res, status, body, type = 'text/plain') {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer({ key: readFileSync(keyPath), cert: readFileSync(certPath), requestCert: true, rejectUnauthorized: false }, (req, res) => {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (!path.startsWith(prefix)) return answer(res, 404, 'Not found');
  const slash = path.indexOf('/', prefix.length);
  const sensor = path.slice(prefix.length, slash);
  const rest = path.slice(slash + 1);
  if (req.method === 'POST' && rest === 'scans') {
    let head = '';
    let scanId;
    req.on('data', (chunk) => {
      if (scanId !== undefined || head.length > 1024) return;
      head += chunk.toString('latin1', 0, Math.min(chunk.length, 1024));
      scanId = scanIdField.exec(head)?.[1];
    });
    req.on('end', () => {
      if (!scanId) return answer(res, 400, 'no scanId');
      scansOf(sensor).set(scanId, Date.now() + verdictMs);
      answer(res, 200, 'OK');
    });
    return;
  }
  req.resume();
  req.on('end', () => {
    if (req.method === 'GET' && rest === 'scans/state') {
      const now = Date.now();
      const items = [];
      for (const [scanId, due] of scansOf(sensor)) items.push(`{"scanId":${JSON.stringify(scanId)},"state":["${due <= now ? 'not detected' : 'processing'}"]}`);
      return items.length ? answer(res, 200, `[${items.join(',')}]`, 'application/json') : answer(res, 204, '');
    }
    if (req.method === 'GET' && rest === 'scans/filters') return answer(res, 200, '{}', 'application/json');
    if (req.method === 'DELETE' && rest.startsWith('scans/')) {
      const found = scansOf(sensor).delete(decodeURIComponent(rest.slice(6)));
      return answer(res, found ? 200 : 404, found ? 'OK' : 'No scan results found for the specified ID');
    }
    answer(res, 404, 'Not found');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
