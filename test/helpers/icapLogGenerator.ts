import { closeSync, openSync, writeSync } from 'node:fs';
import { mulberry32 } from './prng';

const HOSTS = ['10.0.0.5', '10.20.30.40', '192.168.1.17', '172.16.4.2', 'fd00::15', '2001:db8::1'];
const URLS = ['http://example.com/pkg/tool_1.2.3_amd64.deb', 'https://download.example.org/setup.exe', 'http://files.test/eicar.com', 'http://cdn.example.net/img/logo.png?x=1'];
const VERDICTS = ['clean', 'detected', 'not_detected', 'error', 'timeout'];
const MODES = ['blocking_simple mode', 'blocking_advanced mode'];
const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];

/** One plausible ICAP preprocessor line, in one of several formats. */
export function generateLine(rnd: () => number, i: number, baseEpochS: number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const epoch = baseEpochS + i;
  const iso = new Date(epoch * 1000).toISOString().replace('T', ' ').replace('Z', '');
  const host = pick(HOSTS);
  const mode = pick(MODES);
  const sid = Math.floor(rnd() * 2 ** 48).toString(16).padStart(12, '0');
  switch (Math.floor(rnd() * 8)) {
    case 0:
      return `${iso} [${1000 + (i % 9000)}] ${pick(LEVELS)} preprocessor_icap: RESPMOD request from ${host}:${30000 + (i % 30000)} url=${pick(URLS)} accepted in ${mode}`;
    case 1:
      return `${iso} [${1000 + (i % 9000)}] INFO preprocessor_icap: scan_id=${sid} size=${Math.floor(rnd() * 1e7)} verdict=${pick(VERDICTS)} ${mode}`;
    case 2:
      return `${iso} [${1000 + (i % 9000)}] INFO preprocessor_icap: scan_id=${sid} verdict: ${pick(VERDICTS)} threat="EICAR-Test-File"`;
    case 3:
      return `${epoch}.${String(i % 1000).padStart(3, '0')} ${String(Math.floor(rnd() * 3000)).padStart(6)} ${host} ICAP_MOD/204 ${Math.floor(rnd() * 90000)} REQMOD icap://10.0.0.9:1344/kata_req - -/10.0.0.9 -`;
    case 4:
      return `${new Date(epoch * 1000).toISOString()} warn Verdict for ${sid} is detected in ${mode}`;
    case 5:
      return `${iso} [${1000 + (i % 9000)}] DEBUG preprocessor_icap: Encapsulated: req-hdr=0, res-hdr=${Math.floor(rnd() * 800)}, res-body=${Math.floor(rnd() * 2000)} from ${host}`;
    case 6:
      return `${iso} [${1000 + (i % 9000)}] ERROR preprocessor_icap: cannot reach scanner at https://localhost:443/kata/scanner/v1/sensors/${sid}/scans in ${mode}`;
    default:
      return `${iso} [${1000 + (i % 9000)}] INFO preprocessor_icap: sent ${Math.floor(rnd() * 50)} verdicts to kata-cn.corp.local:443`;
  }
}

/** A block of whole lines of about `bytes` bytes (ends with '\n'). */
export function generateBlock(seed: number, bytes: number, firstLine = 0): { data: Buffer; lines: number } {
  const rnd = mulberry32(seed);
  const parts: string[] = [];
  let size = 0;
  let i = firstLine;
  while (size < bytes) {
    const l = generateLine(rnd, i++, 1714557600) + '\n';
    parts.push(l);
    size += Buffer.byteLength(l);
  }
  return { data: Buffer.from(parts.join('')), lines: i - firstLine };
}

/**
 * Write a log of at least `targetBytes` to `path`, fast: four different ~1 MiB blocks (seeded),
 * written in turn. Returns bytes and lines written. Deterministic for a given seed.
 */
export function generateIcapLog(path: string, targetBytes: number, seed = 1, blockBytes = 1024 * 1024): { bytes: number; lines: number } {
  const blocks = [0, 1, 2, 3].map((k) => generateBlock(seed * 7919 + k, blockBytes, k * 100_000));
  const fd = openSync(path, 'w');
  let bytes = 0;
  let lines = 0;
  try {
    for (let k = 0; bytes < targetBytes; k++) {
      const b = blocks[k % blocks.length]!;
      writeSync(fd, b.data);
      bytes += b.data.length;
      lines += b.lines;
    }
  } finally {
    closeSync(fd);
  }
  return { bytes, lines };
}
