import { invisibleControls } from '../common/displayText';
import { type SiemEvent, type SiemSource, siemClasses } from './siemEvent';

/**
 * ArcSight Common Event Format (CEF:0), as "Implementing ArcSight CEF" defines it:
 *   CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|Extension
 * Header fields escape `\` and `|`; extension values escape `\` and `=`, and carry a newline as
 * `\n` (a carriage return as `\r`). Before that, every text value is made unambiguous and visible:
 * a backslash is doubled and control and bidirectional characters (a file name is chosen by
 * whoever writes the share) become `\n`, `\r`, `\t` or `\uXXXX`. So the raw message never holds a
 * newline, a `|` that ends a header field or an `=` that starts a key, and what an analyst reads
 * after the receiver's unescaping is exactly the visible form of the name.
 */

export const cefVendor = 'Kaspersky';
export const cefProduct = 'KATA Directory Scanner';

const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Backslashes doubled, control and bidi characters as visible escapes: one text for one value, and back. */
export function visibleValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(invisibleControls, (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
}

export function escapeCefHeader(s: string): string {
  return s.replace(/[\\|]/g, (c) => `\\${c}`).replace(/\r\n|[\r\n]/g, ' ');
}

export function escapeCefValue(s: string): string {
  return s.replace(/[\\=]/g, (c) => `\\${c}`).replace(/\r\n|\n/g, '\\n').replace(/\r/g, '\\r');
}

/** The specification's limits for the keys KDS uses (characters); longer values are cut with "…". */
const maxLength: Record<string, number> = { act: 63, cat: 1023, dvchost: 100, deviceExternalId: 255, externalId: 40, fname: 1023, filePath: 1023, fileHash: 255, msg: 1023, reason: 1023, suser: 1023 };
const customStringMax = 4000;

function cut(key: string, v: string): string {
  const max = maxLength[key] ?? customStringMax;
  if (v.length <= max) return v;
  // Whole escapes and whole characters only: never half a \uXXXX or half a surrogate pair.
  let end = 0;
  for (;;) {
    const code = v.charCodeAt(end);
    const step = v[end] === '\\' ? (v[end + 1] === 'u' ? 6 : 2) : code >= 0xd800 && code <= 0xdbff ? 2 : 1;
    if (end + step > max - 1) break;
    end += step;
  }
  return v.slice(0, end) + '…';
}

/** The extension's key=value pairs, in a fixed order; absent values are left out. */
export function cefExtension(e: SiemEvent, src: SiemSource): Array<[string, string]> {
  const c = siemClasses[e.cls];
  const pairs: Array<[string, string | number | undefined]> = [
    ['rt', e.time],
    ['cat', c.category],
    ['act', c.action],
    ['dvchost', src.hostname],
    ['dvcpid', src.pid],
    ['deviceExternalId', src.systemId],
    ['externalId', e.externalId],
    ['fname', e.file?.name],
    ['fsize', e.file?.size],
    ['fileHash', e.file?.sha256],
    ['filePath', e.file?.path ?? e.folderPath],
    ['suser', e.user],
    ['reason', e.reason],
    ['cs1Label', e.threat !== undefined ? 'threat' : undefined],
    ['cs1', e.threat],
    ['cs2Label', e.scanId !== undefined ? 'scanId' : undefined],
    ['cs2', e.scanId],
    ['cs3Label', e.share !== undefined ? 'share' : undefined],
    ['cs3', e.share],
    ['cs4Label', e.verdict !== undefined ? 'verdict' : undefined],
    ['cs4', e.verdict],
    ['cs5Label', 'centralNode'],
    ['cs5', src.centralNode],
    ['cs6Label', e.folder !== undefined ? 'folder' : e.approval !== undefined ? 'approval' : undefined],
    ['cs6', e.folder ?? e.approval],
  ];
  return pairs.filter((p): p is [string, string | number] => p[1] !== undefined).map(([k, v]) => [k, typeof v === 'number' ? String(v) : cut(k, visibleValue(v))]);
}

export function formatCef(e: SiemEvent, src: SiemSource): string {
  const c = siemClasses[e.cls];
  const header = ['CEF:0', cefVendor, cefProduct, src.version, e.cls, c.name, String(c.severity)].map((f, i) => (i === 0 ? f : escapeCefHeader(f))).join('|');
  return `${header}|${cefExtension(e, src).map(([k, v]) => `${k}=${escapeCefValue(v)}`).join(' ')}`;
}
