import { join } from 'node:path';
import * as vscode from 'vscode';
import { collect } from '../../support/collectFlow';
import { type KataLogKind, fetchKataLogs, grepFiles } from '../../support/kataLogs';
import type { IcapLogPanel } from '../panels/icapLogPanel';
import { hostFor, registerSupportRequestPanel } from '../panels/supportRequestPanel';
import { type KdsServices } from '../services';
import { registerCommand } from '../commandHost';

/**
 * KATA's own logs and the support request in VS Code (docs/support.md): the same modules as
 * `kds kata-logs`, `kds collect` and `kds support-bundle`, on the connected Central Node or,
 * without a connection, on this computer.
 */
export function registerSupportCommands(s: KdsServices, icapLog: IcapLogPanel): void {
  const panel = registerSupportRequestPanel(s);
  registerCommand(s, 'kds.createSupportRequest', () => panel.open());

  registerCommand(s, 'kds.kataLogs', async (arg?: unknown) => {
    const kind: KataLogKind | undefined =
      arg === 'history' || arg === 'detects'
        ? arg
        : (
            await vscode.window.showQuickPick(
              [
                { label: 'log-history', description: vscode.l10n.t('every object KATA scanned'), log: 'history' as const },
                { label: 'log-detects', description: vscode.l10n.t('detections'), log: 'detects' as const },
              ],
              { title: vscode.l10n.t('KATA log to fetch with kata-collect-siem-logs') },
            )
          )?.log;
    if (!kind) return;
    const { host } = await hostFor(s);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
    const dir = vscode.Uri.joinPath(s.context.globalStorageUri, 'kata-logs', `${kind}-${stamp}`).fsPath;
    const fetched = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kata-collect-siem-logs log-{0} on {1}…', kind, host.where) },
      () => fetchKataLogs(host, kind, dir),
    );
    const counts = await grepFiles(fetched.files, { pattern: 'ICAP', maxLines: 0 });
    s.log.info(`[kata-logs] ${counts.map((c) => `${c.file}: ${c.matched} of ${c.lines} lines match ICAP`).join('; ')}`);
    const first = counts.find((c) => c.matched > 0) ?? counts[0]!;
    // The viewer's filter is grep's: its count equals `grep -ci ICAP`.
    await icapLog.show({ path: first.file, filter: { text: 'ICAP', matchCase: false } });
    void vscode.window.showInformationMessage(counts.map((c) => vscode.l10n.t('{0}: {1} of {2} lines match "{3}"', join(c.file).split('/').pop()!, c.matched, c.lines, 'ICAP')).join(' · '));
  });

  registerCommand(s, 'kds.collect', async () => {
    const { host } = await hostFor(s);
    const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: vscode.l10n.t('Download Here'), title: vscode.l10n.t('Folder for the kata-collect archive') });
    const out = picked?.[0];
    if (!out || out.scheme !== 'file') return;
    const done = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kata-collect on {0}', host.where), cancellable: false }, (progress) => {
      let last = 0;
      return collect(host, out.fsPath, {
        print: (l) => {
          s.log.info(`[collect] ${l}`);
          progress.report({ message: l });
        },
        progress: (d, total) => {
          const pct = total ? Math.floor((d * 100) / total) : 100;
          if (pct > last) progress.report({ increment: pct - last, message: vscode.l10n.t('Downloading: {0}%', pct) });
          last = pct;
        },
        confirmRemoval: async (state) => {
          const remove = vscode.l10n.t('Remove');
          return (await vscode.window.showWarningMessage(vscode.l10n.t('The kata-collect archive was downloaded and verified. Remove {0} on {1} to free space?', state.remotePath, host.where), { modal: true }, remove)) === remove;
        },
      });
    });
    const reveal = vscode.l10n.t('Reveal in File Explorer');
    if ((await vscode.window.showInformationMessage(vscode.l10n.t('Downloaded {0}; size and SHA-256 match the Central Node.', done.download.local), reveal)) === reveal) {
      await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(done.download.local));
    }
  });
}
