/**
 * The ICAP Traffic panel (browser side): the diagnosis on top, then the transactions table with a
 * filter, sortable columns and rows that expand to the raw ICAP headers. The host reads and
 * analyzes the capture; this page only shows what it was sent.
 */
import './style.css';
import { button, textField } from '../components/controls';
import { clear, h } from '../components/dom';
import { pageStrings, type Strings } from '../shared/l10n';
import { createChannel, persistedViewState } from '../shared/vscodeApi';
import type { IcapTrafficMessage, IcapTrafficRequest, IcapTrafficStringId, TrafficRow } from '../../src/webviewProtocol/icapTraffic';

type SortKey = 'time' | 'client' | 'method' | 'uri' | 'status' | 'bytes' | 'latency';
const maxRowsShown = 2000;

const { saved, save } = persistedViewState({ filter: '', sort: 'time', descending: false });
const channel = createChannel<IcapTrafficMessage, IcapTrafficRequest>(['init', 'analysis', 'error']);
let S: Strings<IcapTrafficStringId> | undefined;
let rows: TrafficRow[] = [];
const expanded = new Set<TrafficRow>();

const root = h('div', { class: 'traffic' });
document.body.append(root);
const header = h('div', { class: 'kds-row-gap head' });
const sourceLine = h('div', { class: 'source kds-mono' });
const summaryLine = h('div', { class: 'kds-muted' });
const errorLine = h('div', { class: 'error', hidden: true });
const diagnosisBox = h('ul', { class: 'diagnosis' });
const tools = h('div', { class: 'kds-row-gap' });
const countLine = h('span', { class: 'kds-muted count' });
const table = h('table', { class: 'tx' });
const tableBox = h('div', { class: 'tx-box' }, table);
const diagnosisTitle = h('h3', {});
root.append(header, sourceLine, summaryLine, errorLine, diagnosisTitle, diagnosisBox, tools, tableBox);

function text(row: TrafficRow): string {
  return [row.time, row.client, row.server, row.method, row.uri, row.status, row.reason, row.flow, row.httpRequest, row.httpStatus, row.adaptedHttpStatus, ...row.verdict.flat(), ...row.notes]
    .filter((x) => x !== null)
    .join(' ')
    .toLowerCase();
}

function sortValue(r: TrafficRow, k: SortKey): string | number {
  switch (k) {
    case 'time':
      return r.time;
    case 'client':
      return r.client;
    case 'method':
      return r.method ?? '';
    case 'uri':
      return r.uri ?? '';
    case 'status':
      return r.status ?? -1;
    case 'bytes':
      return r.requestBytes + r.responseBytes;
    case 'latency':
      return r.latencyMs ?? -1;
  }
}

function headerCell(label: string, key: SortKey | undefined): HTMLTableCellElement {
  const th = h('th', { title: label });
  if (!key) {
    th.append(label);
    return th;
  }
  const b = h('button', { type: 'button' }, label);
  if (saved.sort === key) th.setAttribute('aria-sort', saved.descending ? 'descending' : 'ascending');
  b.addEventListener('click', () => {
    save(saved.sort === key ? { descending: !saved.descending } : { sort: key, descending: false });
    render();
  });
  th.append(b);
  return th;
}

function detailRow(r: TrafficRow, cols: number): HTMLTableRowElement {
  const box = h('div', { class: 'detail' });
  if (r.notes.length) box.append(h('div', { class: 'notes' }, `${S!.t('notes')}: ${r.notes.join('; ')}`));
  const http = [r.httpRequest, r.httpStatus, r.adaptedHttpStatus && `→ ${r.adaptedHttpStatus}`].filter(Boolean);
  if (r.uri || http.length) box.append(h('pre', { class: 'kds-mono' }, [r.uri, ...http].filter(Boolean).join('\n')));
  if (r.verdict.length) box.append(h('pre', { class: 'kds-mono' }, r.verdict.map(([k, v]) => `${k}: ${v}`).join('\n')));
  box.append(h('div', { class: 'label' }, S!.t('requestHeaders')), h('pre', { class: 'kds-mono' }, r.requestHeaders ?? S!.t('notCaptured')));
  box.append(h('div', { class: 'label' }, S!.t('responseHeaders')), h('pre', { class: 'kds-mono' }, r.responseHeaders ?? S!.t('noAnswer')));
  const td = h('td', { colspan: cols });
  td.append(box);
  return h('tr', { class: 'detail-row' }, td);
}

/**
 * The table's columns. Each is as wide as what it holds in the rows shown (the longest value, in
 * characters, up to a cap per column), so "icap://127.0.0.1:1344/respmod" stays on one line and a
 * 200-character URL does not push everything else away; a value longer than its cap is cut with
 * "…" and shown whole in its tooltip and in the expanded row.
 */
interface TrafficColumn {
  id: IcapTrafficStringId;
  sort?: SortKey;
  /** Widest this column gets, in characters. */
  cap: number;
  /** A monospace column (its characters are wider than the table's). */
  mono?: boolean;
  className?: string;
  text(r: TrafficRow): string;
}

function columns(s: Strings<IcapTrafficStringId>): TrafficColumn[] {
  return [
    { id: 'colTime', sort: 'time', cap: 12, mono: true, className: 'kds-mono', text: (r) => r.time.slice(11, 23) },
    { id: 'colClient', sort: 'client', cap: 36, mono: true, className: 'kds-mono', text: (r) => `${r.client} → ${r.server}` },
    { id: 'colMethod', sort: 'method', cap: 8, text: (r) => r.method ?? '?' },
    { id: 'colUri', sort: 'uri', cap: 44, mono: true, className: 'kds-mono uri', text: (r) => r.uri ?? '?' },
    { id: 'colStatus', sort: 'status', cap: 26, className: 'status', text: (r) => (r.status === null ? s.t('noAnswer') : `${r.status} ${r.reason ?? ''}`.trim()) },
    { id: 'colFlow', cap: 24, text: (r) => r.flow },
    { id: 'colVerdict', cap: 36, text: (r) => r.verdict.map(([k, v]) => `${k}: ${v}`).join('; ') },
    { id: 'colHttp', cap: 60, mono: true, className: 'kds-mono', text: (r) => r.httpRequest ?? '' },
    { id: 'colHttpResponse', cap: 40, mono: true, className: 'kds-mono', text: (r) => [r.httpStatus, r.adaptedHttpStatus && `→ ${r.adaptedHttpStatus}`].filter(Boolean).join(' ') },
    { id: 'colBytes', sort: 'bytes', cap: 18, className: 'num', text: (r) => `${s.formatNumber(r.requestBytes)} / ${s.formatNumber(r.responseBytes)}` },
    { id: 'colLatency', sort: 'latency', cap: 11, className: 'num', text: (r) => (r.latencyMs === null ? '' : `${s.formatNumber(Math.round(r.latencyMs * 10) / 10)} ms`) },
  ];
}

/** Widths in ch that fit the header and the values of `shown` (sort arrows and padding included). */
function widths(cols: TrafficColumn[], shown: TrafficRow[], s: Strings<IcapTrafficStringId>): number[] {
  return cols.map((c) => {
    let longest = s.t(c.id).length + (c.sort ? 2 : 0);
    for (const r of shown) longest = Math.max(longest, Math.min(c.cap, c.text(r).length * (c.mono ? 1.05 : 1)));
    return Math.ceil(Math.min(Math.max(longest, 4), c.cap * (c.mono ? 1.05 : 1))) + 2;
  });
}

function render(): void {
  if (!S) return;
  clear(table);
  const needle = saved.filter.trim().toLowerCase();
  const key = saved.sort as SortKey;
  const shown = rows.filter((r) => !needle || text(r).includes(needle));
  shown.sort((a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    const c = x < y ? -1 : x > y ? 1 : 0;
    return saved.descending ? -c : c;
  });
  countLine.textContent = S.t('shownOf', S.formatNumber(Math.min(shown.length, maxRowsShown)), S.formatNumber(rows.length));
  const cols = columns(S);
  const fit = widths(cols, shown.slice(0, maxRowsShown), S);
  const colgroup = h('colgroup', {});
  cols.forEach((c, i) => {
    const col = h('col', { class: `c-${c.id}` });
    col.style.width = `${fit[i]}ch`;
    colgroup.append(col);
  });
  // As wide as the columns want, at least the panel: narrow panels scroll sideways.
  table.style.width = `max(100%, ${fit.reduce((a, b) => a + b, 0)}ch)`;
  table.append(colgroup, h('thead', {}, h('tr', {}, ...cols.map((c) => headerCell(S!.t(c.id), c.sort)))));
  const body = h('tbody', {});
  if (!rows.length) body.append(h('tr', {}, h('td', { colspan: cols.length, class: 'kds-muted' }, S.t('noTransactions'))));
  else if (!shown.length) body.append(h('tr', {}, h('td', { colspan: cols.length, class: 'kds-muted' }, S.t('noMatch'))));
  for (const r of shown.slice(0, maxRowsShown)) {
    const tr = h(
      'tr',
      { class: `tx-row${r.status === null || r.status >= 400 ? ' bad' : ''}`, tabindex: 0, 'aria-expanded': expanded.has(r) ? 'true' : 'false' },
      ...cols.map((c) => {
        const value = c.text(r);
        return h('td', { class: c.className ?? '', title: value }, value);
      }),
    );
    const toggle = () => {
      if (expanded.has(r)) expanded.delete(r);
      else expanded.add(r);
      render();
    };
    tr.addEventListener('click', toggle);
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        toggle();
      }
    });
    body.append(tr);
    if (expanded.has(r)) body.append(detailRow(r, cols.length));
  }
  table.append(body);
}

channel.onMessage((m) => {
  switch (m.type) {
    case 'init': {
      S = pageStrings(m);
      clear(header);
      header.append(h('h2', {}, S.t('title')));
      diagnosisTitle.textContent = S.t('diagnosis');
      clear(tools);
      const filter = textField({ placeholder: S.t('filterPlaceholder'), value: saved.filter, type: 'search', maxLength: 200, onInput: (v) => (save({ filter: v }), render()) });
      filter.el.classList.add('filter');
      tools.append(
        filter.el,
        countLine,
        button({ label: S.t('savePcap'), appearance: 'secondary', onClick: () => channel.post({ type: 'savePcap' }) }).el,
      );
      const ws = button({ label: S.t('openWireshark'), appearance: 'secondary', onClick: () => channel.post({ type: 'openWireshark' }) });
      ws.el.classList.add('wireshark');
      ws.el.hidden = true;
      tools.append(ws.el);
      render();
      return;
    }
    case 'analysis': {
      rows = m.rows;
      expanded.clear();
      sourceLine.textContent = m.source;
      summaryLine.textContent = m.summary;
      errorLine.hidden = true;
      clear(diagnosisBox);
      for (const f of m.findings) diagnosisBox.append(h('li', { class: f.severity }, f.text));
      const ws = tools.querySelector<HTMLElement>('.wireshark');
      if (ws) ws.hidden = !m.wireshark;
      render();
      return;
    }
    case 'error':
      errorLine.textContent = m.message;
      errorLine.hidden = false;
      return;
  }
});
channel.post({ type: 'ready' });
