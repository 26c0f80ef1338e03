/**
 * The Verdicts panel (browser side). The host sends the whole table once (in chunks) and then
 * batched updates; filtering, searching and sorting run here over the rows held in memory
 * (see docs/webviews.md for why), and the table renders only the rows in view.
 */
import './style.css';
import { button, dropdown, tabs, textField } from '../components/controls';
import { clear, h } from '../components/dom';
import { VirtualTable } from '../components/virtualTable';
import { pageStrings, type Strings } from '../shared/l10n';
import { createChannel, persistedViewState, throttledSetState } from '../shared/vscodeApi';
import type { VerdictAction, VerdictDetails, VerdictsMessage, VerdictsRequest, VerdictsStringId } from '../../src/webviewProtocol/verdicts';
import { type ByteUnitTemplates, formatBytes, localeNumber } from '../../src/webviewProtocol/byteSize';
import {
  type VerdictColumn,
  type VerdictDestination,
  type VerdictKey,
  type VerdictQuery,
  type VerdictRow,
  countVerdicts,
  queryVerdictRows,
  verdictBuckets,
  verdictColumns,
  verdictKeyOf,
  verdictKeys,
} from '../../src/webviewProtocol/verdictsQuery';
import { verdictChart, verdictClass } from './chart';

interface ViewState {
  verdict: string;
  /** The share filter ('' = all). */
  share: string;
  text: string;
  sort: string;
  descending: boolean;
  scrollTop: number;
  selectedId: string;
  detailsId: string;
}

const { saved, save } = persistedViewState<ViewState>(
  { verdict: '', share: '', text: '', sort: 'time', descending: true, scrollTop: 0, selectedId: '', detailsId: '' },
  throttledSetState<ViewState>(),
);
const channel = createChannel<VerdictsMessage, VerdictsRequest>(['init', 'reset', 'update', 'details']);

const rows = new Map<string, VerdictRow>();
let incoming: VerdictRow[] = [];
let S: Strings<VerdictsStringId> | undefined;
let stateLabels: Record<string, string> = {};
let byteUnits: ByteUnitTemplates | undefined;
let canReveal = false;
/** The engine's shares; with more than one the table shows a Share column and a share filter. */
let shares: string[] = [];
let ui: ReturnType<typeof buildUi> | undefined;
let restoredScroll = false;
let recomputeTimer: number | undefined;

const query = (): VerdictQuery => ({
  verdicts: saved.verdict ? [saved.verdict as VerdictKey] : [],
  shares: saved.share && shares.includes(saved.share) ? [saved.share] : [],
  text: saved.text,
  sort: (verdictColumns as readonly string[]).includes(saved.sort) ? (saved.sort as VerdictColumn) : 'time',
  descending: saved.descending,
});

channel.onMessage((m) => {
  switch (m.type) {
    case 'init':
      S = pageStrings(m);
      stateLabels = m.stateLabels;
      byteUnits = m.byteUnits;
      canReveal = m.canReveal;
      shares = m.shares;
      ui = buildUi(S);
      break;
    case 'reset':
      incoming.push(...m.rows);
      if (m.last) {
        rows.clear();
        for (const r of incoming) rows.set(r.id, r);
        incoming = [];
        recompute(true);
      }
      break;
    case 'update':
      for (const id of m.removed) rows.delete(id);
      for (const r of m.upserted) rows.set(r.id, r);
      if (saved.detailsId && (m.upserted.some((r) => r.id === saved.detailsId) || m.removed.includes(saved.detailsId))) requestDetails(saved.detailsId);
      scheduleRecompute();
      break;
    case 'details':
      if (m.id === saved.detailsId) ui?.showDetails(m.details);
      break;
  }
});
channel.post({ type: 'ready' });

function scheduleRecompute(): void {
  recomputeTimer ??= window.setTimeout(() => {
    recomputeTimer = undefined;
    recompute(false);
  }, 50);
}

function recompute(fromReset: boolean): void {
  if (!ui) return;
  const all = [...rows.values()];
  const shown = queryVerdictRows(all, query());
  ui.table.setRows(shown);
  ui.setSummary(all, shown.length);
  if (fromReset && !restoredScroll) {
    restoredScroll = true;
    ui.table.select(saved.selectedId || undefined);
    ui.table.scrollTop = saved.scrollTop;
    if (saved.detailsId) requestDetails(saved.detailsId);
  }
}

function requestDetails(id: string): void {
  save({ detailsId: id });
  channel.post({ type: 'details', id });
}

/** The trees' format ("5 B", "1.5 KiB"), numbers in the user's locale. */
function formatSize(s: Strings<VerdictsStringId>, bytes: number): string {
  return byteUnits ? formatBytes(bytes, byteUnits, localeNumber(s.locale)) : s.formatNumber(bytes);
}

function formatDuration(s: Strings<VerdictsStringId>, ms: number | undefined): string {
  if (ms === undefined) return '';
  return new Intl.NumberFormat(s.locale, { style: 'unit', unit: 'second', unitDisplay: 'short', maximumFractionDigits: 1 }).format(ms / 1000);
}

function verdictText(s: Strings<VerdictsStringId>, r: { verdict?: VerdictKey; stage?: string }): string {
  if (r.verdict && r.verdict !== 'pending') return s.t(`verdict.${r.verdict}`);
  return r.stage ? stateLabels[r.stage] ?? r.stage : s.t('verdict.pending');
}

function destText(s: Strings<VerdictsStringId>, d: VerdictDestination | undefined): string {
  return d ? s.t(`dest.${d}`) : '';
}

function buildUi(s: Strings<VerdictsStringId>) {
  const root = document.getElementById('root')!;
  clear(root);

  // Summary: counts per verdict + chart.
  const counts = h('ul', { class: 'counts', 'aria-label': s.t('counts') });
  const chartBox = h('div', { class: 'chart-box' }, h('span', { class: 'kds-muted' }, s.t('chartTitle')));
  const chartSlot = h('div', {});
  chartBox.append(chartSlot);

  // Toolbar.
  const search = textField({
    placeholder: s.t('searchPlaceholder'),
    label: undefined,
    value: saved.text,
    maxLength: 256,
    onInput: (v) => {
      save({ text: v, scrollTop: 0 });
      table.scrollTop = 0;
      scheduleRecompute();
    },
  });
  search.el.classList.add('search');
  search.el.setAttribute('aria-label', s.t('search'));
  const filter = dropdown({
    label: s.t('filterVerdict'),
    options: [{ value: '', label: s.t('allVerdicts') }, ...verdictKeys.map((k) => ({ value: k, label: s.t(`verdict.${k}`) }))],
    value: saved.verdict,
    onChange: (v) => {
      save({ verdict: v, scrollTop: 0 });
      table.scrollTop = 0;
      scheduleRecompute();
    },
  });
  const several = shares.length > 1;
  const shareFilter = several
    ? dropdown({
        label: s.t('filterShare'),
        options: [{ value: '', label: s.t('allShares') }, ...shares.map((name) => ({ value: name, label: name }))],
        value: shares.includes(saved.share) ? saved.share : '',
        onChange: (v) => {
          save({ share: v, scrollTop: 0 });
          table.scrollTop = 0;
          scheduleRecompute();
        },
      })
    : undefined;
  const shownLabel = h('span', { class: 'kds-muted', 'aria-live': 'polite' }, s.t('loading'));

  // Table.
  const table = new VirtualTable<VerdictRow>({
    label: s.t('tableLabel'),
    rowId: (r) => r.id,
    sortLabels: { ascending: s.t('sortAscending'), descending: s.t('sortDescending') },
    columns: [
      { id: 'time', label: s.t('colTime'), width: 'minmax(12em, 1.2fr)', text: (r) => s.formatTime(r.time) },
      ...(several ? [{ id: 'share', label: s.t('colShare'), width: 'minmax(6em, 0.8fr)', text: (r: VerdictRow) => r.share ?? '' }] : []),
      { id: 'name', label: s.t('colName'), width: 'minmax(10em, 2.4fr)', text: (r) => r.name },
      { id: 'size', label: s.t('colSize'), width: 'minmax(5em, 0.8fr)', end: true, text: (r) => formatSize(s, r.size) },
      { id: 'sha256', label: s.t('colSha256'), width: 'minmax(7em, 1fr)', text: (r) => (r.sha256 ? r.sha256.slice(0, 12) : ''), title: (r) => r.sha256 ?? '', className: () => 'kds-mono' },
      { id: 'verdict', label: s.t('colVerdict'), width: 'minmax(7em, 1.1fr)', text: (r) => verdictText(s, r), className: (r) => verdictClass(verdictKeyOf(r)) },
      { id: 'threat', label: s.t('colThreat'), width: 'minmax(7em, 1.5fr)', text: (r) => r.threat ?? '' },
      { id: 'duration', label: s.t('colDuration'), width: 'minmax(7em, 0.8fr)', end: true, text: (r) => formatDuration(s, r.durationMs) },
      { id: 'destination', label: s.t('colDestination'), width: 'minmax(10em, 1.5fr)', text: (r) => destText(s, r.destination), title: (r) => destText(s, r.destination) },
    ],
    onSort: (col) => {
      save({ sort: col, descending: saved.sort === col ? !saved.descending : col === 'time' || col === 'size' || col === 'duration' });
      table.setSort(saved.sort, saved.descending);
      recompute(false);
    },
    onSelect: (r) => {
      save({ selectedId: r?.id ?? '' });
      // With the details open, moving through the list with the arrow keys shows each row's details.
      if (r && !details.hidden && r.id !== saved.detailsId) requestDetails(r.id);
    },
    // A single click, Enter or a double-click opens the details.
    activateOnClick: true,
    onActivate: (r) => {
      requestDetails(r.id);
      details.hidden = false;
    },
    onScroll: (top) => save({ scrollTop: top }),
  });
  table.setSort(saved.sort, saved.descending);

  // Details.
  const details = h('section', { class: 'details', hidden: true, 'aria-label': s.t('details') });
  details.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeDetails();
  });
  const closeDetails = () => {
    details.hidden = true;
    save({ detailsId: '' });
    table.focus();
  };
  let current: VerdictDetails | undefined;
  const act = (action: VerdictAction) => () => {
    if (current) channel.post({ type: 'action', action, id: current.id });
  };
  const actions = {
    release: button({ label: s.t('release'), onClick: act('release') }),
    rescan: button({ label: s.t('rescan'), appearance: 'secondary', onClick: act('rescan') }),
    copyHash: button({ label: s.t('copyHash'), appearance: 'secondary', onClick: act('copyHash') }),
    reveal: button({ label: s.t('reveal'), appearance: 'secondary', onClick: act('reveal') }),
  };
  const closeButton = button({ label: s.t('close'), appearance: 'secondary', onClick: closeDetails });
  const title = h('span', {});
  const fields = h('dl', {});
  const changes = h('ol', {});
  const log = h('pre', {});
  const detailTabs = tabs([
    { id: 'changes', label: s.t('tabChanges'), content: changes },
    { id: 'log', label: s.t('tabLog'), content: log },
  ]);
  details.append(
    h('h2', {}, title, closeButton.el),
    fields,
    h('div', { class: 'actions kds-row-gap' }, actions.release.el, actions.rescan.el, actions.copyHash.el, ...(canReveal ? [actions.reveal.el] : [])),
    detailTabs.el,
  );

  root.append(
    h('main', { class: 'verdicts' },
      h('section', { class: 'summary' }, counts, chartBox),
      h('div', { class: 'toolbar' }, search.el, filter.el, ...(shareFilter ? [shareFilter.el] : []), shownLabel),
      table.el,
      details,
    ),
  );

  return {
    table,
    setSummary(all: VerdictRow[], shown: number) {
      const c = countVerdicts(all);
      clear(counts);
      for (const k of verdictKeys) {
        counts.append(h('li', { class: verdictClass(k) }, h('span', { class: 'n' }, s.formatNumber(c[k])), s.t(`verdict.${k}`)));
      }
      shownLabel.textContent = s.tn('rowsShown', all.length, s.formatNumber(shown));
      clear(chartSlot);
      const buckets = verdictBuckets(all);
      if (buckets.length === 0) chartSlot.append(h('span', { class: 'kds-muted' }, s.t('chartEmpty')));
      else {
        chartSlot.append(
          verdictChart(buckets, s.t('chartTitle'), (b) =>
            [s.formatTime(b.start), ...verdictKeys.filter((k) => b.counts[k]).map((k) => `${s.t(`verdict.${k}`)}: ${s.formatNumber(b.counts[k])}`)].join('\n'),
          ),
        );
      }
    },
    showDetails(d: VerdictDetails | undefined) {
      current = d;
      details.hidden = false;
      clear(fields);
      clear(changes);
      if (!d) {
        title.textContent = s.t('detailsEmpty');
        for (const b of Object.values(actions)) b.disabled = true;
        log.textContent = '';
        return;
      }
      title.textContent = d.name;
      const field = (label: string, value: string | undefined, mono = false) => {
        if (value) fields.append(h('dt', {}, label), h('dd', mono ? { class: 'kds-mono' } : {}, value));
      };
      if (several) field(s.t('colShare'), d.share);
      field(s.t('colVerdict'), verdictText(s, d));
      field(s.t('colThreat'), d.threat);
      field(s.t('colSize'), formatSize(s, d.size));
      field(s.t('fullSha256'), d.sha256, true);
      field(s.t('scanId'), d.scanId, true);
      field(s.t('rawState'), d.rawState);
      field(s.t('colDestination'), destText(s, d.destination));
      field(s.t('path'), d.path, true);
      for (const c of d.changes) {
        changes.append(h('li', {}, `${s.formatTime(c.at)} — ${stateLabels[c.state] ?? c.state}${c.detail ? ` (${c.detail})` : ''}`));
      }
      log.textContent = d.logLines.length ? d.logLines.join('\n') : s.t('noLogLines');
      // Only a file still in quarantine can be released (not one released or deleted since).
      actions.release.disabled = d.destination !== 'qrnt';
      actions.release.el.hidden = d.destination === 'released' || d.destination === 'deleted';
      actions.copyHash.disabled = !d.sha256;
      actions.reveal.disabled = !d.path;
    },
  };
}
