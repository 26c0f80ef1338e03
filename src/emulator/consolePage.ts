import { currentLocale, t } from '../common/l10n';
import type { AlertRecord } from './scanStore';
import type { IntegrationRequest, IntegrationState } from './systemsRegistry';

export interface ConsoleView {
  systems: IntegrationRequest[];
  alerts: AlertRecord[];
  csrfToken: string;
  /** Per-response nonce that lets the CSP admit exactly our own <style> element. */
  nonce: string;
  apiUrl: string;
  icap?: { respmodUrl: string; reqmodUrl: string; mode: string; logPath: string };
}

const modeLabels = (): Record<string, string> => ({
  monitoring: t('monitoring (never changes traffic, detections become alerts)'),
  blocking_simple: t('blocking_simple (detections replaced by a block page)'),
  blocking_advanced: t('blocking_advanced (also waits for slower verdicts)'),
});

function icapSection(icap: NonNullable<ConsoleView['icap']>, csrfToken: string): string {
  const options = Object.entries(modeLabels())
    .map(([value, label]) => `<option value="${value}"${value === icap.mode ? ' selected' : ''}>${escapeHtml(label)}</option>`)
    .join('');
  return `<h2>${escapeHtml(t('ICAP server'))}</h2>
<p>${escapeHtml(t('RESPMOD service: {0}', icap.respmodUrl))}<br>${escapeHtml(t('REQMOD service: {0}', icap.reqmodUrl))}<br>
<span class="muted">${escapeHtml(t('Log: {0}', icap.logPath))}</span></p>
<form method="post" action="/console/icap-mode">
<input type="hidden" name="csrf" value="${escapeHtml(csrfToken)}">
<label>${escapeHtml(t('Mode'))} <select name="mode">${options}</select></label>
<button type="submit">${escapeHtml(t('Apply'))}</button></form>`;
}

/** Every value that reaches the page goes through here; sensor IDs and file names come from clients. */
export function escapeHtml(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function stateLabel(state: IntegrationState): string {
  switch (state) {
    case 'pending':
      return t('Pending');
    case 'accepted':
      return t('Accepted');
    case 'rejected':
      return t('Rejected');
  }
}

function when(iso: string): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—';
}

function decisionForm(row: IntegrationRequest, csrfToken: string): string {
  const button = (action: 'accept' | 'reject', label: string) =>
    `<button type="submit" name="action" value="${action}" class="${action}">${escapeHtml(label)}</button>`;
  const buttons = [row.state !== 'accepted' ? button('accept', t('Accept')) : '', row.state !== 'rejected' ? button('reject', t('Reject')) : ''].join(' ');
  return `<form method="post" action="/console/systems">
<input type="hidden" name="csrf" value="${escapeHtml(csrfToken)}">
<input type="hidden" name="sensorId" value="${escapeHtml(row.sensorId)}">
<input type="hidden" name="fingerprint" value="${escapeHtml(row.fingerprint)}">
${buttons}</form>`;
}

const css = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ccc;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}
code{font-size:12px;word-break:break-all}
.pending{color:#8a5a00;font-weight:600}.accepted{color:#1a6b1a}.rejected{color:#a11}
button{padding:.2rem .7rem;cursor:pointer}button.accept{background:#dff0d8}button.reject{background:#f2dede}
form{margin:0}.muted{color:#666}
`;

/** The whole console: server-rendered, no scripts, every dynamic value escaped. */
export function renderConsole(view: ConsoleView): string {
  const systems = [...view.systems].sort((a, b) => b.firstSeen.localeCompare(a.firstSeen));
  const systemRows = systems
    .map(
      (s) => `<tr>
<td><code>${escapeHtml(s.sensorId)}</code></td>
<td><code>${escapeHtml(s.fingerprint)}</code>${s.subject ? `<br><span class="muted">CN=${escapeHtml(s.subject)}</span>` : ''}</td>
<td>${escapeHtml(when(s.firstSeen))}${s.remoteAddress ? `<br><span class="muted">${escapeHtml(s.remoteAddress)}</span>` : ''}</td>
<td class="${s.state}">${escapeHtml(stateLabel(s.state))}</td>
<td>${decisionForm(s, view.csrfToken)}</td>
</tr>`,
    )
    .join('\n');
  const alertRows = view.alerts
    .map(
      (a) => `<tr>
<td>${escapeHtml(when(a.detectTime))}</td>
<td><code>${escapeHtml(a.sensorId)}</code></td>
<td>${escapeHtml(a.fileName || '—')}</td>
<td><code>${escapeHtml(a.sha256)}</code></td>
<td>${escapeHtml(a.threats.join(', '))}</td>
</tr>`,
    )
    .join('\n');
  const lang = escapeHtml(currentLocale());
  return `<!DOCTYPE html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(t('KATA emulator console'))}</title>
<style nonce="${escapeHtml(view.nonce)}">${css}</style>
</head>
<body>
<h1>${escapeHtml(t('KATA emulator console'))}</h1>
<p class="muted">${escapeHtml(t('Scanner API: {0}', view.apiUrl))} · <a href="/console">${escapeHtml(t('Refresh'))}</a></p>
${view.icap ? icapSection(view.icap, view.csrfToken) : ''}
<h2>${escapeHtml(t('External systems'))}</h2>
${
  systems.length
    ? `<table>
<thead><tr><th>${escapeHtml(t('Sensor ID'))}</th><th>${escapeHtml(t('Certificate fingerprint (SHA-256)'))}</th><th>${escapeHtml(t('First seen'))}</th><th>${escapeHtml(t('State'))}</th><th>${escapeHtml(t('Actions'))}</th></tr></thead>
<tbody>
${systemRows}
</tbody>
</table>`
    : `<p>${escapeHtml(t('No integration requests yet.'))}</p>`
}
<h2>${escapeHtml(t('Detections'))}</h2>
${
  view.alerts.length
    ? `<table>
<thead><tr><th>${escapeHtml(t('Time'))}</th><th>${escapeHtml(t('Sensor ID'))}</th><th>${escapeHtml(t('File name'))}</th><th>SHA-256</th><th>${escapeHtml(t('Threat'))}</th></tr></thead>
<tbody>
${alertRows}
</tbody>
</table>
<p class="muted">${escapeHtml(t('The latest {0} detections are shown, newest first.', view.alerts.length))}</p>`
    : `<p>${escapeHtml(t('No detections yet.'))}</p>`
}
</body>
</html>
`;
}
