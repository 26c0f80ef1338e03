import { t } from '../common/l10n';
import type { FileStage, Verdict } from '../engine/events';
import type { ItemLook } from './contracts';
import { type ByteUnitTemplates, formatBytes } from '../webviewProtocol/byteSize';

/**
 * How stages and verdicts look in trees, decorations and the status bar. Colours are theme
 * colour ids and icons codicon ids, so this module stays free of 'vscode' and every host
 * (tree, decoration provider, webview) shows the same thing for the same state.
 */
export function stageLook(stage: FileStage): ItemLook {
  switch (stage) {
    case 'settling':
      return { label: t('settling'), icon: 'watch', badge: '…' };
    case 'queued':
      return { label: t('queued'), icon: 'clock', badge: 'Q' };
    case 'excluded':
      return { label: t('excluded'), color: 'disabledForeground', icon: 'circle-slash', badge: 'X' };
    case 'too-large':
      return { label: t('too large'), color: 'disabledForeground', icon: 'circle-slash', badge: 'L' };
    case 'unreadable':
      return { label: t('unreadable'), color: 'charts.orange', icon: 'lock', badge: '!' };
    case 'uploading':
      return { label: t('uploading'), color: 'charts.blue', icon: 'cloud-upload', badge: '↑' };
    case 'submitted':
      return { label: t('submitted'), color: 'charts.blue', icon: 'sync', badge: 'S' };
    case 'awaiting-approval':
      return { label: t('awaiting approval'), color: 'charts.yellow', icon: 'shield', badge: 'A' };
    case 'retrying':
      return { label: t('retrying'), color: 'charts.yellow', icon: 'debug-restart', badge: 'R' };
    case 'routing':
      return { label: t('routing'), color: 'charts.blue', icon: 'arrow-right', badge: '→' };
    case 'missing':
      return { label: t('missing'), color: 'charts.orange', icon: 'question', badge: '?' };
  }
}

export function verdictLook(verdict: Verdict | undefined): ItemLook {
  switch (verdict) {
    case 'not detected':
      return { label: t('not detected'), color: 'charts.green', icon: 'pass', badge: '✓' };
    case 'detect':
      return { label: t('detected'), color: 'charts.red', icon: 'bug', badge: '!' };
    case 'error':
      return { label: t('error'), color: 'charts.orange', icon: 'warning', badge: 'E' };
    case 'timeout':
      return { label: t('timeout'), color: 'charts.orange', icon: 'watch', badge: 'T' };
    case 'unknown':
    case undefined:
      // A file put into a destination by hand has no verdict; it is as unknown as an odd state.
      return { label: t('unknown'), color: 'charts.orange', icon: 'question', badge: '?' };
  }
}

/** Binary units, one decimal below 10 so that "1.5 MiB" and "15 MiB" both read well (src/webviewProtocol/byteSize.ts). */
export function formatSize(bytes: number): string {
  return formatBytes(bytes, byteUnitTemplates());
}

/** The translated unit templates, also sent to the webviews so that they show sizes the same way. */
export function byteUnitTemplates(): ByteUnitTemplates {
  return { B: t('{0} B', '{0}'), KiB: t('{0} KiB', '{0}'), MiB: t('{0} MiB', '{0}'), GiB: t('{0} GiB', '{0}'), TiB: t('{0} TiB', '{0}') };
}

/** How long ago `ms` (an epoch time) was, in the largest whole unit; a clock skew reads as 0 s. */
export function formatAge(ms: number, now: number = Date.now()): string {
  const s = Math.max(0, Math.floor((now - ms) / 1000));
  if (s < 60) return t('{0} s', s);
  const m = Math.floor(s / 60);
  if (m < 60) return t('{0} min', m);
  const h = Math.floor(m / 60);
  if (h < 24) return t('{0} h', h);
  return t('{0} d', Math.floor(h / 24));
}
