import { clear, h } from '../components/dom';
import { type Strings, pageStrings } from '../shared/l10n';
import { createChannel } from '../shared/vscodeApi';
import type { IcapProbeMessage, IcapProbeRequest, IcapProbeRow, IcapProbeStringId } from '../../src/webviewProtocol/icapProbe';
import './style.css';

const channel = createChannel<IcapProbeMessage, IcapProbeRequest>(['init', 'start', 'step', 'done', 'error']);
let s: Strings<IcapProbeStringId> | undefined;
const root = document.getElementById('root') ?? document.body;

const header = h('div', { class: 'conclusion', role: 'status', 'aria-live': 'polite' });
const where = h('div', { class: 'where' });
const tbody = h('tbody');
const again = h('button', { type: 'button', disabled: true });
again.addEventListener('click', () => channel.post({ type: 'again' }));

function row(r: IcapProbeRow): HTMLElement[] {
  const t = s!;
  const status = r.status !== undefined ? `ICAP ${r.status} ${r.reason ?? ''}` : t.t('noAnswer');
  const times = r.ttfbMs !== undefined ? `${r.ttfbMs} / ${r.totalMs} ms` : '';
  const main = h(
    'tr',
    { class: `outcome-${r.outcome}` },
    h('td', {}, r.title),
    h('td', {}, status),
    h('td', {}, r.verdict.length ? r.verdict.join('\n') : t.t('noVerdict')),
    h('td', {}, r.error ?? r.message),
    h('td', {}, times),
  );
  const details = h('details', {}, h('summary', {}, t.t('rawHeaders')));
  if (r.options.length) details.append(h('pre', {}, `${t.t('options')}:\n${r.options.join('\n')}`));
  if (r.transport) details.append(h('p', {}, r.transport));
  if (r.warnings.length) details.append(h('p', { class: 'warnings' }, `${t.t('warnings')}: ${r.warnings.join('; ')}`));
  details.append(h('pre', {}, r.rawHead ?? '—'));
  const more = h('tr', { class: 'details' }, h('td', { colspan: 5 }, details));
  return [main, more];
}

channel.onMessage((m) => {
  switch (m.type) {
    case 'init': {
      s = pageStrings(m);
      clear(root);
      again.textContent = s.t('again');
      const table = h(
        'table',
        { class: 'steps' },
        h('thead', {}, h('tr', {}, ...(['colStep', 'colStatus', 'colVerdict', 'colMessage', 'colTimes'] as const).map((k) => h('th', {}, s!.t(k))))),
        tbody,
      );
      root.append(h('h1', {}, s.t('title')), header, where, table, h('div', { class: 'actions' }, again));
      return;
    }
    case 'start':
      clear(tbody);
      header.textContent = s?.t('running', m.uri) ?? m.uri;
      header.className = 'conclusion running';
      where.textContent = s?.t('where', m.where) ?? m.where;
      again.disabled = true;
      return;
    case 'step':
      tbody.append(...row(m.row));
      return;
    case 'done':
      header.textContent = `${s?.t('conclusion') ?? ''}: ${m.conclusion}`;
      header.className = `conclusion ${m.exitCode === 0 ? 'ok' : 'failed'}`;
      again.disabled = false;
      return;
    case 'error':
      header.textContent = m.message;
      header.className = 'conclusion failed';
      again.disabled = false;
      return;
  }
});
channel.post({ type: 'ready' });
