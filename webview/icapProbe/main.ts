/**
 * The ICAP Probe panel (browser side): the form (service URL; RESPMOD, REQMOD or discovery; EICAR;
 * a file of one's own), the conclusion with its next step, the steps (or the paths a discovery
 * tried) as they complete, and Show in ICAP Log. The host probes (src/extension/panels/icapProbePanel.ts);
 * this page only shows what it was sent and posts what the person asked for.
 */
import './style.css';
import { button, checkbox, dropdown, textField } from '../components/controls';
import { clear, h } from '../components/dom';
import { type Strings, pageStrings } from '../shared/l10n';
import { createChannel } from '../shared/vscodeApi';
import type { DiscoverRow, IcapProbeMessage, IcapProbeRequest, IcapProbeRow, IcapProbeStringId, ProbeForm, ProbeService } from '../../src/webviewProtocol/icapProbe';

const channel = createChannel<IcapProbeMessage, IcapProbeRequest>(['init', 'form', 'file', 'start', 'step', 'discover', 'done', 'error']);
let s: Strings<IcapProbeStringId> | undefined;
let ui: ReturnType<typeof buildUi> | undefined;

function stepRow(t: Strings<IcapProbeStringId>, r: IcapProbeRow): HTMLElement[] {
  const status = r.status !== undefined ? `ICAP ${r.status} ${r.reason ?? ''}` : t.t('noAnswer');
  const times = r.ttfbMs !== undefined ? `${r.ttfbMs} / ${r.totalMs} ms` : '';
  const main = h(
    'tr',
    { class: `outcome-${r.outcome}`, 'data-testid': 'probe-step' },
    h('td', {}, r.title),
    h('td', {}, status),
    h('td', {}, r.verdict.length ? r.verdict.join('\n') : t.t('noVerdict')),
    h('td', {}, r.error ?? r.message),
    h('td', { class: 'num' }, times),
  );
  const details = h('details', {}, h('summary', {}, t.t('rawHeaders')));
  if (r.options.length) details.append(h('pre', {}, `${t.t('options')}:\n${r.options.join('\n')}`));
  if (r.transport) details.append(h('p', {}, r.transport));
  if (r.warnings.length) details.append(h('p', { class: 'warnings' }, `${t.t('warnings')}: ${r.warnings.join('; ')}`));
  details.append(h('pre', {}, r.rawHead ?? '—'));
  return [main, h('tr', { class: 'details' }, h('td', { colspan: 5 }, details))];
}

function buildUi(t: Strings<IcapProbeStringId>, form: ProbeForm, fileName: string | undefined) {
  const root = document.getElementById('root') ?? document.body;
  clear(root);
  const page = h('div', { class: 'probe' });
  root.append(page);
  page.append(h('h1', {}, t.t('title')));

  // The form.
  let current: ProbeForm = { ...form };
  const url = textField({ label: t.t('url'), value: form.url, placeholder: 'icap://127.0.0.1:1344/respmod', onInput: (v) => (current.url = v) });
  url.el.setAttribute('data-testid', 'probe-url');
  url.el.classList.add('url');
  const what = dropdown({
    label: t.t('what'),
    options: [
      { value: 'respmod', label: t.t('whatRespmod') },
      { value: 'reqmod', label: t.t('whatReqmod') },
      { value: 'discover', label: t.t('whatDiscover') },
    ],
    value: form.service,
    onChange: (v) => {
      const service = v as ProbeService;
      // The embedded KATA's paths follow the method picked (/respmod ↔ /reqmod).
      if (service !== 'discover') {
        const swapped = current.url.replace(/\/(respmod|reqmod)$/i, `/${service}`);
        if (swapped !== current.url) url.value = current.url = swapped;
      }
      current.service = service;
      eicar.disabled = fileBox.hidden = service === 'discover';
    },
  });
  what.el.setAttribute('data-testid', 'probe-what');
  const eicar = checkbox({ label: t.t('eicar'), checked: form.eicar, onChange: (v) => (current.eicar = v) });
  eicar.el.setAttribute('data-testid', 'probe-eicar');
  const fileLabel = h('span', { class: 'kds-mono', 'data-testid': 'probe-file' });
  const clearFile = button({ label: t.t('clearFile'), appearance: 'secondary', onClick: () => channel.post({ type: 'clearFile' }) });
  const chooseFile = button({ label: t.t('chooseFile'), appearance: 'secondary', onClick: () => channel.post({ type: 'chooseFile' }) });
  const fileBox = h('div', { class: 'field' }, h('label', {}, t.t('file')), h('div', { class: 'kds-row-gap' }, fileLabel, chooseFile.el, clearFile.el));
  const showFile = (name: string | undefined) => {
    fileLabel.textContent = name ?? t.t('noFile');
    fileLabel.classList.toggle('kds-muted', !name);
    clearFile.disabled = !name;
  };
  showFile(fileName);
  const probe = button({ label: t.t('probe'), onClick: () => channel.post({ type: 'run', ...current }) });
  probe.el.setAttribute('data-testid', 'probe-run');
  const showLog = button({ label: t.t('showLog'), title: t.t('showLogHelp'), appearance: 'secondary', onClick: () => channel.post({ type: 'showLog' }) });
  showLog.el.setAttribute('data-testid', 'probe-show-log');
  showLog.disabled = true;
  eicar.disabled = fileBox.hidden = form.service === 'discover';
  page.append(
    h('div', { class: 'form' }, h('div', { class: 'field' }, url.el, h('span', { class: 'help' }, t.t('urlHelp'))), h('div', { class: 'field' }, h('label', {}, t.t('what')), what.el), h('div', { class: 'field' }, eicar.el), fileBox),
    h('div', { class: 'actions' }, probe.el, showLog.el),
  );

  // The outcome.
  const conclusion = h('div', { class: 'conclusion', role: 'status', 'aria-live': 'polite', 'data-testid': 'probe-conclusion', hidden: true });
  const next = h('div', { class: 'next', 'data-testid': 'probe-next', hidden: true });
  const mode = h('div', { class: 'kds-muted', 'data-testid': 'probe-mode', hidden: true });
  const where = h('div', { class: 'kds-muted where' });
  const table = h('table', { class: 'steps' });
  page.append(conclusion, next, mode, where, table);

  const tableFor = (discover: boolean) => {
    clear(table);
    const cols = discover ? [t.t('colPath'), t.t('colStatus'), t.t('colMethods'), ''] : [t.t('colStep'), t.t('colStatus'), t.t('colVerdict'), t.t('colMessage'), t.t('colTimes')];
    const body = h('tbody');
    table.append(h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', {}, c)))), body);
    return body;
  };
  let body = tableFor(false);

  return {
    setForm(f: ProbeForm) {
      current = { ...f };
      url.value = f.url;
      what.value = f.service;
      eicar.value = f.eicar;
      eicar.disabled = fileBox.hidden = f.service === 'discover';
    },
    showFile,
    start(uri: string, on: string, discover: boolean) {
      body = tableFor(discover);
      conclusion.hidden = false;
      conclusion.textContent = discover ? t.t('discovering', uri) : t.t('running', uri);
      conclusion.className = 'conclusion running';
      next.hidden = mode.hidden = true;
      where.textContent = t.t('where', on);
      probe.disabled = true;
      showLog.disabled = true;
    },
    step(r: IcapProbeRow) {
      body.append(...stepRow(t, r));
    },
    discovered(r: DiscoverRow) {
      const ok = r.status === 200;
      const action = ok
        ? button({
            label: t.t('probeThis'),
            appearance: 'secondary',
            onClick: () => {
              const service: ProbeService = /\bREQMOD\b/.test(r.methods ?? '') && !/\bRESPMOD\b/.test(r.methods ?? '') ? 'reqmod' : 'respmod';
              this.setForm({ ...current, url: r.uri, service });
              channel.post({ type: 'run', ...current });
            },
          }).el
        : '';
      body.append(h('tr', { class: ok ? 'outcome-ok' : 'outcome-none', 'data-testid': 'probe-path' }, h('td', { class: 'kds-mono' }, r.path), h('td', {}, r.status !== undefined ? `ICAP ${r.status}` : (r.error ?? '')), h('td', {}, r.methods ?? ''), h('td', {}, action)));
    },
    done(m: Extract<IcapProbeMessage, { type: 'done' }>) {
      conclusion.hidden = false;
      conclusion.textContent = `${t.t('conclusion')}: ${m.conclusion}`;
      conclusion.className = `conclusion ${m.exitCode === 0 ? 'ok' : 'failed'}`;
      next.hidden = !m.next;
      next.textContent = m.next ? `${t.t('next')}: ${m.next}` : '';
      mode.hidden = !m.mode;
      mode.textContent = m.mode ? t.t('mode', m.mode) : '';
      probe.disabled = false;
      showLog.disabled = !m.canShowLog;
    },
    error(message: string) {
      conclusion.hidden = false;
      conclusion.textContent = message;
      conclusion.className = 'conclusion failed';
      next.hidden = true;
      probe.disabled = false;
    },
  };
}

channel.onMessage((m) => {
  switch (m.type) {
    case 'init':
      s = pageStrings(m);
      ui = buildUi(s, m.form, m.fileName);
      return;
    case 'form':
      ui?.setForm(m.form);
      return;
    case 'file':
      ui?.showFile(m.fileName);
      return;
    case 'start':
      ui?.start(m.uri, m.where, m.discover);
      return;
    case 'step':
      ui?.step(m.row);
      return;
    case 'discover':
      ui?.discovered(m.row);
      return;
    case 'done':
      ui?.done(m);
      return;
    case 'error':
      ui?.error(m.message);
      return;
  }
});
channel.post({ type: 'ready' });
