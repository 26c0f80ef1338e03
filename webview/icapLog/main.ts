/**
 * The ICAP log viewer panel (browser side). The host pages the file (tail first, earlier pages
 * on request), follows it, filters and counts; this page edits the filter, holds the lines it was
 * sent and draws the ones in view. View state (file, filter, follow, columns) survives reloads.
 */
import './style.css';
import { button, checkbox, dropdown, textField } from '../components/controls';
import { clear, h } from '../components/dom';
import { pageStrings, type Strings } from '../shared/l10n';
import { createChannel, persistedViewState } from '../shared/vscodeApi';
import {
  type IcapLogMessage,
  type IcapLogRequest,
  type IcapLogStringId,
  type IcapLogViewFilter,
  type IcapLogViewMode,
  type IcapViewLine,
  defaultIcapLogViewFilter,
  icapLogModes,
  maxSearchLength,
  maxTimeInputLength,
} from '../../src/webviewProtocol/icapLog';
import { type LogColumn, LogList, renderHighlighted, verdictText } from './logList';
import { type ByteUnitTemplates, formatBytes, localeNumber } from '../../src/webviewProtocol/byteSize';

/** Lines held in the page at most (about 100 000 × a few hundred bytes). */
const maxHeldLines = 100_000;
/** Other field keys shown as columns at most, beside mode, verdict, threat and URL. */
const maxFieldColumns = 2;
/** Keys the fixed columns already show: never a second Verdict column. */
const shownKeys = /^(verdict|result|threats?|threat_name|virus|virus_name|malware|detection|url|uri|request_url|object_url|mode)$/i;

/**
 * The filter as the panel edits it, plus the page's own settings. `mode` is any string because a
 * restored state is checked only for type; currentFilter() falls back to 'all' for an unknown one.
 */
interface ViewState extends Omit<IcapLogViewFilter, 'mode'> {
  path: string;
  mode: string;
  follow: boolean;
  fieldsAsColumns: boolean;
  wrap: boolean;
}

const { saved, save } = persistedViewState<ViewState>({ path: '', ...defaultIcapLogViewFilter, follow: false, fieldsAsColumns: false, wrap: true });
const channel = createChannel<IcapLogMessage, IcapLogRequest>(['init', 'file', 'filterError', 'page', 'append', 'count', 'error']);

let S: Strings<IcapLogStringId> | undefined;
let ui: ReturnType<typeof buildUi> | undefined;
let epoch = -1;
let startCursor = 0;
let atStart = true;
let loading = false;
let fileSize = 0;
let byteUnits: ByteUnitTemplates | undefined;

function currentFilter(): IcapLogViewFilter {
  return {
    mode: (icapLogModes as readonly string[]).includes(saved.mode) ? (saved.mode as IcapLogViewMode) : 'all',
    verdictOnly: saved.verdictOnly,
    text: saved.text.slice(0, maxSearchLength),
    regex: saved.regex,
    matchCase: saved.matchCase,
    timeFrom: saved.timeFrom.slice(0, maxTimeInputLength),
    timeTo: saved.timeTo.slice(0, maxTimeInputLength),
  };
}

channel.onMessage((m) => {
  switch (m.type) {
    case 'init':
      if (m.filter) save({ ...m.filter });
      S = pageStrings(m);
      byteUnits = m.byteUnits;
      ui = buildUi(S);
      if (m.path) save({ path: m.path });
      channel.post({ type: 'view', path: saved.path, filter: currentFilter(), follow: saved.follow });
      break;
    case 'file':
      save({ path: m.path ?? '' });
      epoch = -1;
      ui?.showFile(m.path, m.grep, m.grepTimeOmitted);
      break;
    case 'filterError':
      ui?.showFilterError(m.field, m.message);
      // What is on screen answered the previous filter: it goes until the filter is valid again.
      epoch = -2;
      loading = false;
      ui?.markStale();
      break;
    case 'page':
      if (m.kind === 'tail') {
        epoch = m.epoch;
        loading = false;
        ui?.list.reset(m.lines);
      } else {
        if (m.epoch !== epoch) return;
        loading = false;
        ui?.list.prepend(m.lines);
      }
      startCursor = m.startCursor;
      atStart = m.atStart;
      fileSize = m.size;
      ui?.afterLines();
      maybeLoadEarlier();
      break;
    case 'append':
      if (m.reset) {
        ui?.notice(S!.t(m.reset === 'rotated' ? 'rotated' : 'truncated'));
        return; // a new tail page follows
      }
      if (m.epoch !== epoch || !ui) return;
      if (m.skippedBytes) {
        ui.notice(S!.tn('skipped', m.skippedBytes));
        ui.list.reset(m.lines);
        atStart = false;
        startCursor = m.lines[0]?.offset ?? m.size;
      } else if (ui.list.append(m.lines, maxHeldLines) > 0) {
        atStart = false;
        startCursor = ui.list.first?.offset ?? startCursor;
      }
      fileSize = m.size;
      ui.afterLines();
      break;
    case 'count':
      if (m.epoch === epoch || epoch === -1) ui?.showCount(m);
      break;
    case 'error':
      ui?.showError(m.message);
      loading = false;
      break;
  }
});
channel.post({ type: 'ready' });

/** Ask for the page before the first line held while the top of the list is in view. */
function maybeLoadEarlier(): void {
  if (!ui || loading || atStart || epoch < 0 || !ui.list.nearTop()) {
    ui?.showEdge();
    return;
  }
  if (ui.list.length >= maxHeldLines) {
    ui.showEdge(true);
    return;
  }
  loading = true;
  ui.showEdge();
  channel.post({ type: 'pageBefore', epoch, cursor: startCursor });
}

function postFilter(): void {
  ui?.showFilterError(undefined, '');
  channel.post({ type: 'filter', filter: currentFilter() });
}

let filterTimer: number | undefined;
function postFilterSoon(): void {
  if (filterTimer !== undefined) window.clearTimeout(filterTimer);
  filterTimer = window.setTimeout(() => {
    filterTimer = undefined;
    postFilter();
  }, 350);
}

/** `template` with {0}, {1}… replaced by nodes (text stays text). */
function fill(template: string, parts: Array<Node | string>): Array<Node | string> {
  const out: Array<Node | string> = [];
  let at = 0;
  for (const m of template.matchAll(/\{(\d+)\}/g)) {
    if (m.index! > at) out.push(template.slice(at, m.index));
    out.push(parts[Number(m[1])] ?? m[0]);
    at = m.index! + m[0].length;
  }
  if (at < template.length) out.push(template.slice(at));
  return out;
}

function buildUi(s: Strings<IcapLogStringId>) {
  const root = document.getElementById('root')!;
  clear(root);

  // File row
  const pathEl = h('span', { class: 'path kds-mono', 'data-testid': 'icap-path' });
  const sizeEl = h('span', { class: 'kds-muted' });
  const openBtn = button({ label: s.t('openFile'), appearance: 'secondary', onClick: () => channel.post({ type: 'openFile' }) });
  const fileRow = h('div', { class: 'kds-row-gap file-row' }, openBtn.el, pathEl, sizeEl);

  // Filters
  const mode = dropdown({
    label: s.t('mode'),
    value: saved.mode,
    options: [
      { value: 'all', label: s.t('modeAll') },
      { value: 'blocking_simple', label: s.t('modeSimple') },
      { value: 'blocking_advanced', label: s.t('modeAdvanced') },
    ],
    onChange: (v) => {
      save({ mode: v });
      postFilter();
    },
  });
  mode.el.setAttribute('data-testid', 'icap-mode');
  const verdict = checkbox({ label: s.t('verdictOnly'), checked: saved.verdictOnly, onChange: (v) => (save({ verdictOnly: v }), postFilter()) });
  verdict.el.setAttribute('data-testid', 'icap-verdict-only');
  const search = textField({ label: s.t('search'), placeholder: s.t('searchPlaceholder'), value: saved.text, maxLength: maxSearchLength, onInput: (v) => (save({ text: v }), postFilterSoon()) });
  search.el.classList.add('search');
  search.el.setAttribute('data-testid', 'icap-search');
  const regex = checkbox({ label: s.t('regex'), checked: saved.regex, onChange: (v) => (save({ regex: v }), postFilter()) });
  regex.el.setAttribute('data-testid', 'icap-regex');
  const matchCase = checkbox({ label: s.t('matchCase'), checked: saved.matchCase, onChange: (v) => (save({ matchCase: v }), postFilter()) });
  const from = textField({ label: s.t('timeFrom'), placeholder: s.t('timePlaceholder'), value: saved.timeFrom, maxLength: maxTimeInputLength, onInput: (v) => (save({ timeFrom: v }), postFilterSoon()) });
  const to = textField({ label: s.t('timeTo'), placeholder: s.t('timePlaceholder'), value: saved.timeTo, maxLength: maxTimeInputLength, onInput: (v) => (save({ timeTo: v }), postFilterSoon()) });
  from.el.classList.add('time');
  to.el.classList.add('time');
  const follow = checkbox({ label: s.t('follow'), checked: saved.follow, onChange: (v) => (save({ follow: v }), channel.post({ type: 'follow', on: v })) });
  follow.el.setAttribute('data-testid', 'icap-follow');
  const fieldsCols = checkbox({ label: s.t('fieldsAsColumns'), checked: saved.fieldsAsColumns, onChange: (v) => (save({ fieldsAsColumns: v }), updateColumns()) });
  fieldsCols.el.setAttribute('data-testid', 'icap-fields-columns');
  const wrap = checkbox({ label: s.t('wrapLines'), checked: saved.wrap, onChange: (v) => (save({ wrap: v }), list.setWrap(v)) });
  wrap.el.setAttribute('data-testid', 'icap-wrap');
  const filterRow = h('div', { class: 'kds-row-gap filters', role: 'group', 'aria-label': s.t('filters') }, mode.el, verdict.el, search.el, regex.el, matchCase.el, from.el, to.el, follow.el, fieldsCols.el, wrap.el);
  const filterError = h('div', { class: 'filter-error', role: 'alert', hidden: true });

  // Status: count + grep command
  const countBox = h('span', { class: 'count', role: 'status', 'aria-live': 'polite' });
  const grepText = h('code', { class: 'grep kds-mono', 'data-testid': 'icap-grep' });
  const grepNote = h('span', { class: 'kds-muted', hidden: true }, s.t('grepTimeOmitted'));
  const copyBtn = button({ label: s.t('copyGrep'), appearance: 'secondary', onClick: () => channel.post({ type: 'copyGrep' }) });
  const statusRow = h('div', { class: 'kds-row-gap status-row' }, countBox, copyBtn.el, grepText, grepNote);
  const noticeEl = h('div', { class: 'notice', role: 'status', hidden: true });
  const errorEl = h('div', { class: 'error', role: 'alert', hidden: true });
  const edgeEl = h('div', { class: 'edge kds-muted', role: 'status' });

  const list = new LogList({
    label: s.t('linesLabel'),
    lineHeader: s.t('colLine'),
    shortenedTitle: (shown, total) => s.t('lineShortened', s.formatNumber(shown), s.formatNumber(total)),
    partialTitle: s.t('partialLine'),
    onNearTop: () => maybeLoadEarlier(),
    onActivate: (line) => showDetails(line),
  });
  const empty = h('div', { class: 'empty kds-muted', hidden: true });
  list.setWrap(saved.wrap);

  // Details of one line (the whole text, wrapped, and its fields)
  const detailsBody = h('div', {});
  const closeBtn = button({ label: s.t('close'), appearance: 'secondary', onClick: () => hideDetails() });
  const details = h('section', { class: 'details', hidden: true, 'aria-label': s.t('details') }, h('h2', {}, h('span', {}, s.t('details')), closeBtn.el), detailsBody);
  details.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') hideDetails();
  });

  root.append(h('div', { class: 'icaplog' }, fileRow, filterRow, filterError, statusRow, noticeEl, errorEl, edgeEl, list.el, empty, details));

  function showDetails(line: IcapViewLine): void {
    clear(detailsBody);
    const pre = h('pre', { class: 'kds-mono' });
    renderHighlighted(pre, line);
    if (line.truncated) pre.append(h('span', { class: 'll-cut' }, ` … (${s.t('lineShortened', s.formatNumber(new TextEncoder().encode(line.text).length), s.formatNumber(line.byteLength))})`));
    detailsBody.append(pre);
    if (line.fields?.length) {
      const dl = h('dl', {});
      for (const [k, v] of line.fields) dl.append(h('dt', {}, k), h('dd', {}, v));
      detailsBody.append(dl);
    }
    details.hidden = false;
    (closeBtn.el as HTMLElement).focus();
  }
  function hideDetails(): void {
    details.hidden = true;
    list.focus();
  }

  const verdictColumn: LogColumn = {
    id: 'verdict',
    label: s.t('colVerdict'),
    width: '6.5rem',
    className: 'll-verdict',
    value: verdictText,
    valueClass: (l) => (verdictText(l) ? `hl-verdict v-${l.verdict ?? 'other'}` : undefined),
  };
  /** Verdict alone; with "fields as columns", mode, verdict, threat and URL, then the most frequent other fields. */
  function updateColumns(): void {
    if (!saved.fieldsAsColumns) {
      list.setColumns([verdictColumn]);
      return;
    }
    const freq = new Map<string, number>();
    for (const l of list.all()) for (const [k] of l.fields ?? []) if (!shownKeys.test(k)) freq.set(k, (freq.get(k) ?? 0) + 1);
    const keys = [...freq].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, maxFieldColumns).map(([k]) => k);
    list.setColumns([
      { id: 'mode', label: s.t('colMode'), width: '9rem', className: 'll-mode', value: (l) => l.mode ?? '' },
      verdictColumn,
      { id: 'threat', label: s.t('colThreat'), width: '10rem', className: 'll-threat', value: (l) => l.threat ?? '' },
      { id: 'url', label: s.t('colUrl'), width: '12rem', className: 'll-url', value: (l) => l.url ?? '' },
      ...keys.map((k) => ({ id: `field:${k}`, label: k, width: '6.5rem', className: 'll-field', value: (l: IcapViewLine) => l.fields?.find(([key]) => key === k)?.[1] ?? '' })),
    ]);
  }

  updateColumns();

  return {
    list,
    showFile(path: string | undefined, grep: string, timeOmitted: boolean) {
      pathEl.textContent = path ?? '';
      pathEl.title = path ?? '';
      sizeEl.textContent = '';
      grepText.textContent = grep;
      grepText.title = grep;
      grepNote.hidden = !timeOmitted;
      copyBtn.disabled = !path;
      noticeEl.hidden = true;
      errorEl.hidden = true;
      clear(countBox);
      list.reset([]);
      empty.hidden = !!path;
      empty.textContent = path ? '' : s.t('noFile');
      empty.removeAttribute('data-state');
      edgeEl.textContent = '';
    },
    /** The filter is invalid: no lines, count or grep of an earlier filter stay on screen. */
    markStale() {
      list.reset([]);
      clear(countBox);
      grepText.textContent = '';
      grepText.title = '';
      grepNote.hidden = true;
      copyBtn.disabled = true;
      noticeEl.hidden = true;
      edgeEl.textContent = '';
      empty.hidden = false;
      empty.textContent = s.t('filterInvalid');
      empty.setAttribute('data-state', 'invalid-filter');
    },
    showFilterError(field: string | undefined, message: string) {
      filterError.hidden = !field;
      filterError.textContent = message;
      for (const [f, c] of [['search', search], ['timeFrom', from], ['timeTo', to]] as const) c.el.toggleAttribute('aria-invalid', f === field);
    },
    showCount(c: { state: 'running' | 'done' | 'error'; matched: number; lines: number; done: number; total: number; error?: string }) {
      clear(countBox);
      if (c.state === 'error') {
        countBox.append(s.t('countFailed', c.error ?? ''));
        return;
      }
      const n = h('span', { class: 'n', 'data-testid': 'icap-count', 'data-state': c.state }, String(c.matched));
      if (c.state === 'done') countBox.append(...fill(s.form('countDone', c.matched), [n, s.formatNumber(c.lines)]));
      else countBox.append(...fill(s.form('countRunning', c.matched), [n, String(c.total ? Math.floor((100 * c.done) / c.total) : 0)]));
    },
    notice(text: string) {
      noticeEl.textContent = text;
      noticeEl.hidden = false;
    },
    showError(message: string) {
      errorEl.textContent = message;
      errorEl.hidden = false;
    },
    /** After lines changed: sizes, columns, the empty message. */
    afterLines() {
      sizeEl.textContent = s.t('fileSize', byteUnits ? formatBytes(fileSize, byteUnits, localeNumber(s.locale)) : s.formatNumber(fileSize));
      errorEl.hidden = true;
      updateColumns();
      empty.hidden = list.length > 0 || !atStart;
      empty.textContent = list.length ? '' : s.t('noMatches');
    },
    /** The line above the list: loading / searching / start of the file / limit. */
    showEdge(limit = false) {
      if (limit) edgeEl.textContent = s.tn('heldLimit', maxHeldLines);
      else if (loading) edgeEl.textContent = list.length || startCursor < fileSize ? s.t('searchingEarlier', String(fileSize ? Math.ceil((100 * startCursor) / fileSize) : 0)) : s.t('loadingEarlier');
      else edgeEl.textContent = atStart && list.length ? s.t('startOfFile') : '';
    },
  };
}
