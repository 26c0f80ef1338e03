/**
 * A strict reader of RFC 5424 syslog lines carrying CEF, written from "Implementing ArcSight CEF"
 * for the tests (the receivers are the real oracle for transport; this checks the text): the
 * header's seven fields with only `\\` and `\|` escaped, the extension's keys of letters, digits
 * and `_`, values with only `\\`, `\=`, `\n` and `\r` escaped and no unescaped `=` inside.
 */

export interface SyslogLine {
  pri: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  msg: string;
}

export function parseRfc5424(line: string): SyslogLine {
  const m = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)$/s.exec(line);
  if (!m) throw new Error(`not an RFC 5424 message: ${JSON.stringify(line.slice(0, 200))}`);
  if (Number.isNaN(Date.parse(m[2]!))) throw new Error(`bad timestamp ${m[2]}`);
  return { pri: Number(m[1]), timestamp: m[2]!, hostname: m[3]!, appName: m[4]!, procId: m[5]!, msgId: m[6]!, msg: m[8]! };
}

export interface CefRecord {
  version: string;
  vendor: string;
  product: string;
  deviceVersion: string;
  classId: string;
  name: string;
  severity: string;
  ext: Record<string, string>;
}

export function parseCef(text: string): CefRecord {
  if (!text.startsWith('CEF:')) throw new Error(`not CEF: ${JSON.stringify(text.slice(0, 80))}`);
  if (/[\r\n]/.test(text)) throw new Error('a raw line break inside a CEF record');
  const fields: string[] = [];
  let cur = '';
  let i = 4;
  for (; i < text.length && fields.length < 7; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const n = text[i + 1];
      if (n !== '\\' && n !== '|') throw new Error(`bad escape \\${n} in the CEF header`);
      cur += n;
      i++;
    } else if (c === '|') {
      fields.push(cur);
      cur = '';
    } else cur += c;
  }
  if (fields.length !== 7) throw new Error(`the CEF header has ${fields.length + 1} fields, not 8`);
  const [version, vendor, product, deviceVersion, classId, name, severity] = fields as [string, string, string, string, string, string, string];
  if (!/^(?:10|[0-9]|Low|Medium|High|Very-High|Unknown)$/.test(severity)) throw new Error(`bad severity ${severity}`);
  return { version, vendor, product, deviceVersion, classId, name, severity, ext: parseExtension(text.slice(i)) };
}

function parseExtension(ext: string): Record<string, string> {
  const eqs: number[] = [];
  for (let i = 0; i < ext.length; i++) {
    if (ext[i] === '\\') i++;
    else if (ext[i] === '=') eqs.push(i);
  }
  const out: Record<string, string> = {};
  const keyStart = (eq: number) => ext.lastIndexOf(' ', eq) + 1;
  for (let k = 0; k < eqs.length; k++) {
    const eq = eqs[k]!;
    const start = keyStart(eq);
    const key = ext.slice(start, eq);
    if (!/^[A-Za-z0-9_]+$/.test(key)) throw new Error(`an unescaped "=" inside a value, or a bad key ${JSON.stringify(key)}`);
    if (k === 0 && start !== 0) throw new Error('text before the first key');
    const end = k + 1 < eqs.length ? keyStart(eqs[k + 1]!) - 1 : ext.length;
    if (key in out) throw new Error(`key ${key} twice`);
    out[key] = unescapeValue(ext.slice(eq + 1, end));
  }
  return out;
}

function unescapeValue(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = v[++i];
    if (n === '\\' || n === '=') out += n;
    else if (n === 'n') out += '\n';
    else if (n === 'r') out += '\r';
    else throw new Error(`bad escape \\${n} in a CEF value`);
  }
  return out;
}
