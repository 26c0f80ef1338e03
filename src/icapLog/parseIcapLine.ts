import { isIPv4, isIPv6 } from 'node:net';
import { extractLineTime, type TimeOptions } from './lineTime';

/** [start, end) in UTF-16 code units of the line text (what String.prototype.slice takes). */
export interface Span {
  start: number;
  end: number;
}

export type VerdictClass = 'clean' | 'detected' | 'error' | 'timeout' | 'other';

export interface IcapField {
  key: string;
  /** Unquoted value. */
  value: string;
  /** The whole `key=value` text. */
  span: Span;
  valueSpan: Span;
}

export interface IcapAddress {
  kind: 'url' | 'ipv4' | 'ipv6' | 'hostport';
  value: string;
  span: Span;
}

export type HighlightKind = 'time' | 'level' | 'mode' | 'verdict' | 'method' | 'status' | 'address' | 'key';

/** What the parser found on one line. Plain data: post it to the webview as is. */
export interface ParsedIcapLine {
  /** The line exactly as given. */
  raw: string;
  time?: { iso: string; epochMs: number; hasZone: boolean; span: Span };
  level?: { value: string; span: Span };
  mode?: { value: 'blocking_simple' | 'blocking_advanced'; span: Span };
  verdict?: { value: string; class: VerdictClass; span: Span };
  /** ICAP method (REQMOD / RESPMOD / OPTIONS) when named on the line. */
  method?: { value: string; span: Span };
  fields: IcapField[];
  addresses: IcapAddress[];
  /** Everything to colour, sorted, non-overlapping (earlier/longer wins). */
  highlights: Array<Span & { kind: HighlightKind }>;
}

const LEVEL_RE = /\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|ALERT|EMERG)\b|\[(trace|debug|info|notice|warn|warning|error|err|crit|critical|fatal)\]|<(trace|debug|info|notice|warn|warning|error|err|crit|critical|fatal)>/i;
const LEVELS_UPPER = /^(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|ALERT|EMERG)$/;
const MODE_RE = /blocking_(simple|advanced) mode/;
const METHOD_RE = /\b(REQMOD|RESPMOD|OPTIONS)\b/;
// key=value, key="quoted", key='quoted'
const EQ_FIELD_RE = /(?<![\w.-])([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;]*)/g;
// key: value (a space after the colon; the key a word, the value one token or quoted)
const COLON_FIELD_RE = /(?<![\w.:/-])([A-Za-z_][\w.-]*): +("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;]+)/g;
// "key": value (JSON lines)
const JSON_FIELD_RE = /"([A-Za-z_][\w.-]*)"\s*:\s*("(?:[^"\\]|\\.)*"|[^\s,}\]]+)/g;
// "verdict clean", "verdict is detected", "Verdict for <id> is detected" (a value the classifier knows, or quoted)
const VERDICT_WORD_RE = /\bverdict\b(?:[^=:;"]{0,80}?\bis)?\s+("[^"]*"|'[^']*'|not[ _-]detected|[A-Za-z_][\w-]*)(?![\w=:])/i;
const URL_RE = /\b(?:icaps?|https?|ftp):\/\/[^\s"'<>()[\]{}]+/g;
const IPV4_RE = /(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?(?![\w.])/g;
const IPV6_RE = /\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|(?<![\w:.])((?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?)(?![\w:])/g;
const HOSTPORT_RE = /(?<![\w.@/-])((?:localhost|[A-Za-z0-9][\w-]*(?:\.[\w-]+)+)):(\d{1,5})(?![\w.:])/g;

function unquote(v: string): string {
  if (v.length >= 2 && ((v[0] === '"' && v.endsWith('"')) || (v[0] === "'" && v.endsWith("'")))) {
    return v.slice(1, -1).replace(/\\(["\\])/g, '$1');
  }
  return v;
}

/** Sort a verdict value into the colours the viewer uses. */
export function classifyVerdict(value: string): VerdictClass {
  const v = value.toLowerCase().replace(/[\s_-]+/g, ' ').trim();
  if (/^(clean|not ?detected|nodetect|no threats?( found)?|ok|none|pass(ed)?|allow(ed)?|benign|negative)$/.test(v)) return 'clean';
  if (/timeout|timed out/.test(v)) return 'timeout';
  if (/^(error|fail(ed|ure)?|scan error|internal error)/.test(v)) return 'error';
  if (/detect|infect|malware|virus|threat|block|alert|suspicious|trojan|eicar|positive|dangerous|malicious/.test(v)) return 'detected';
  return 'other';
}

function overlaps(a: Span, list: Span[]): boolean {
  return list.some((b) => a.start < b.end && b.start < a.end);
}

/**
 * Tolerant parser: picks out whatever it recognises and never throws. A line it cannot read
 * comes back with just `raw` (and empty lists).
 */
export function parseIcapLine(raw: string, opts: TimeOptions = {}): ParsedIcapLine {
  const out: ParsedIcapLine = { raw, fields: [], addresses: [], highlights: [] };
  const line = raw.length > 64 * 1024 ? raw.slice(0, 64 * 1024) : raw; // keep the work bounded
  const taken: Span[] = [];
  const hl = (kind: HighlightKind, s: Span): void => {
    if (s.end > s.start && !overlaps(s, taken)) {
      taken.push(s);
      out.highlights.push({ kind, start: s.start, end: s.end });
    }
  };

  const time = extractLineTime(line, opts);
  if (time) {
    out.time = { iso: time.iso, epochMs: time.epochMs, hasZone: time.hasZone, span: { start: time.start, end: time.end } };
    hl('time', out.time.span);
  }

  const urlSpans = [...line.matchAll(URL_RE)].map((m) => ({ start: m.index!, end: m.index! + m[0].length }));
  // fields: key=value first, then JSON "key": value, then key: value where not already covered
  const fieldSpans: Span[] = [];
  const addField = (m: RegExpExecArray): void => {
    const key = m[1]!;
    const rawValue = m[2]!;
    const valueStart = m.index + m[0].length - rawValue.length;
    const span = { start: m.index, end: m.index + m[0].length };
    if (overlaps(span, fieldSpans) || (time && overlaps(span, [out.time!.span]))) return;
    if (urlSpans.some((u) => span.start > u.start && span.start < u.end)) return; // ?x=1 inside a URL
    fieldSpans.push(span);
    out.fields.push({ key, value: unquote(rawValue), span, valueSpan: { start: valueStart, end: valueStart + rawValue.length } });
  };
  for (const m of line.matchAll(JSON_FIELD_RE)) addField(m as RegExpExecArray);
  for (const m of line.matchAll(EQ_FIELD_RE)) addField(m as RegExpExecArray);
  for (const m of line.matchAll(COLON_FIELD_RE)) {
    if (LEVELS_UPPER.test(m[1]!)) continue; // "ERROR: connection refused" is a level, not a field
    // "tag: some message" is not a field: an unquoted value without digits must end the line or
    // be followed by , ; or another key
    const v = m[2]!;
    const after = line.slice(m.index! + m[0].length);
    if (!/^["']/.test(v) && !/\d/.test(v) && !/^(\s*$|[,;]|\s+[A-Za-z_][\w.-]*(=|: ))/.test(after)) continue;
    addField(m as RegExpExecArray);
  }
  out.fields.sort((a, b) => a.span.start - b.span.start);

  const lm = LEVEL_RE.exec(line);
  if (lm) {
    const value = (lm[1] ?? lm[2] ?? lm[3])!.toUpperCase();
    out.level = { value, span: { start: lm.index, end: lm.index + lm[0].length } };
  } else {
    const f = out.fields.find((x) => /^(level|severity|lvl)$/i.test(x.key));
    if (f) out.level = { value: f.value.toUpperCase(), span: f.valueSpan };
  }

  const mm = MODE_RE.exec(line);
  if (mm) out.mode = { value: mm[1] === 'simple' ? 'blocking_simple' : 'blocking_advanced', span: { start: mm.index, end: mm.index + mm[0].length } };

  const vf = out.fields.find((x) => /^verdict$/i.test(x.key)) ?? out.fields.find((x) => /verdict/i.test(x.key));
  if (vf && vf.value) {
    out.verdict = { value: vf.value, class: classifyVerdict(vf.value), span: vf.valueSpan };
  } else {
    const vm = VERDICT_WORD_RE.exec(line);
    if (vm && (/^["']/.test(vm[1]!) || classifyVerdict(unquote(vm[1]!)) !== 'other')) {
      const v = vm[1]!;
      const start = vm.index + vm[0].length - v.length;
      out.verdict = { value: unquote(v), class: classifyVerdict(unquote(v)), span: { start, end: start + v.length } };
    }
  }

  const me = METHOD_RE.exec(line);
  if (me) out.method = { value: me[1]!, span: { start: me.index, end: me.index + me[0].length } };

  // addresses: URLs, then bracketed/plain IPv6, IPv4[:port], host:port — never inside an earlier one
  const addrSpans: Span[] = [];
  const addAddr = (kind: IcapAddress['kind'], value: string, start: number, end: number): void => {
    const span = { start, end };
    if (overlaps(span, addrSpans) || (time && overlaps(span, [out.time!.span]))) return;
    addrSpans.push(span);
    out.addresses.push({ kind, value, span });
  };
  for (const m of line.matchAll(URL_RE)) {
    const v = m[0].replace(/[.,;:!?]+$/, '');
    addAddr('url', v, m.index!, m.index! + v.length);
  }
  for (const m of line.matchAll(IPV6_RE)) {
    const ip = m[1] ?? m[3]!;
    if (isIPv6(ip.replace(/%\w+$/, ''))) addAddr('ipv6', m[0], m.index!, m.index! + m[0].length);
  }
  for (const m of line.matchAll(IPV4_RE)) {
    if (isIPv4(m[1]!)) addAddr('ipv4', m[0], m.index!, m.index! + m[0].length);
  }
  for (const m of line.matchAll(HOSTPORT_RE)) {
    if (!/^\d+(\.\d+)*$/.test(m[1]!)) addAddr('hostport', m[0], m.index!, m.index! + m[0].length);
  }
  out.addresses.sort((a, b) => a.span.start - b.span.start);

  if (out.verdict) hl('verdict', out.verdict.span);
  if (out.mode) hl('mode', out.mode.span);
  if (out.level) hl('level', out.level.span);
  if (out.method) hl('method', out.method.span);
  for (const a of out.addresses) hl('address', a.span);
  for (const f of out.fields) hl('key', { start: f.span.start, end: f.span.start + f.key.length + (line[f.span.start] === '"' ? 2 : 0) });
  out.highlights.sort((a, b) => a.start - b.start);
  return out;
}
