import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { icapModeStatus, requestIcapMode } from '../emulator/icapModeFile';
import { ICAP_MODES, type IcapMode } from '../emulator/icapServiceLog';
import { registerCommand } from './commandHost';
import type { KdsServices } from './services';

/** Another process's embedded KATA is looked at this often (a `kds demo` in a terminal). */
const refreshMs = 5000;

/** The embedded KATA whose ICAP mode is shown: this window's, or the one of `kds demo` that the configuration names. */
interface EmbeddedIcap {
  url?: string;
  mode: IcapMode;
  /** Where it runs: this window, or another process (its pid). */
  pid?: number;
  set(mode: IcapMode): Promise<'applied' | 'saved' | 'not-applied'>;
}

/** What a person reads beside KATA's name for each mode. */
export function icapModeDescription(mode: IcapMode): string {
  switch (mode) {
    case 'monitoring':
      return vscode.l10n.t('objects pass; detections become alerts in KATA');
    case 'blocking_simple':
      return vscode.l10n.t('blocks what KATA detects at once (KATA\'s standard mode)');
    case 'blocking_advanced':
      return vscode.l10n.t('also waits a while for slower verdicts before letting an object through');
  }
}

/**
 * The embedded KATA of a configuration: `kata_ca` in the emulator's data folder (the demo's
 * kata/ca.pem), where a running emulator holds its lock.
 */
function dataDirOf(s: KdsServices): string | undefined {
  const config = s.active?.mode === 'remote' ? undefined : (s.engine.viewConfig ?? s.engine.config);
  const ca = config?.kata_ca;
  if (!ca) return undefined;
  const dir = dirname(ca);
  return existsSync(join(dir, 'emulator.pid')) ? dir : undefined;
}

async function currentIcap(s: KdsServices): Promise<EmbeddedIcap | undefined> {
  const emulator = s.demo.current?.emulator;
  if (emulator?.icap) {
    const icap = emulator.icap;
    return {
      url: icap.url,
      mode: icap.mode(),
      set: async (mode) => {
        await emulator.setIcapMode(mode, 'VS Code');
        return 'applied';
      },
    };
  }
  const dir = dataDirOf(s);
  if (!dir) return undefined;
  const status = await icapModeStatus(dir).catch(() => undefined);
  if (!status?.pid || !status.icap || !status.mode) return undefined;
  return { mode: status.mode, pid: status.pid, ...(status.url && { url: status.url }), set: (mode) => requestIcapMode(dir, mode, 'VS Code') };
}

/**
 * "ICAP: blocking_simple" in the status bar while an embedded KATA runs (this window's, or a
 * `kds demo` in a terminal on the configuration shown), and **KDS: Switch Embedded KATA ICAP
 * Mode** (also its click): the mode is switched without the browser console.
 */
export function registerEmbeddedIcapMode(s: KdsServices): { refresh(): Promise<void> } {
  const item = vscode.window.createStatusBarItem('kds.icapMode', vscode.StatusBarAlignment.Left, 49);
  item.name = vscode.l10n.t('Embedded KATA ICAP mode');
  item.command = 'kds.setIcapMode';
  s.context.subscriptions.push(item);

  const refresh = async () => {
    const icap = await currentIcap(s);
    if (!icap) {
      item.hide();
      void vscode.commands.executeCommand('setContext', 'kds.embeddedIcap', false);
      return;
    }
    item.text = `$(radio-tower) ${vscode.l10n.t('ICAP: {0}', icap.mode)}`;
    const where = icap.pid ? vscode.l10n.t('the embedded KATA of process {0}', icap.pid) : vscode.l10n.t('the embedded KATA of this window');
    item.tooltip = [
      vscode.l10n.t('ICAP server of {0}: {1}', where, icap.url ?? '?'),
      vscode.l10n.t('Mode {0}: {1}.', icap.mode, icapModeDescription(icap.mode)),
      vscode.l10n.t('Click to switch the mode.'),
    ].join('\n');
    item.show();
    void vscode.commands.executeCommand('setContext', 'kds.embeddedIcap', true);
  };
  const timer = setInterval(() => void refresh(), refreshMs);
  s.context.subscriptions.push({ dispose: () => clearInterval(timer) });

  registerCommand(s, 'kds.setIcapMode', async (arg?: unknown) => {
    const icap = await currentIcap(s);
    if (!icap) {
      void vscode.window.showInformationMessage(vscode.l10n.t('No embedded KATA is running: start one with "KDS: Start Embedded KATA" (or npm start in a terminal of this workspace).'));
      return;
    }
    let mode: IcapMode | undefined = typeof arg === 'string' && (ICAP_MODES as readonly string[]).includes(arg) ? (arg as IcapMode) : undefined;
    if (!mode) {
      const picked = await vscode.window.showQuickPick(
        ICAP_MODES.map((m) => ({ label: m, description: m === icap.mode ? vscode.l10n.t('current') : '', detail: icapModeDescription(m), mode: m })),
        { title: vscode.l10n.t('ICAP mode of the embedded KATA ({0})', icap.url ?? ''), placeHolder: vscode.l10n.t('KATA answers a proxy in this mode from now on') },
      );
      mode = picked?.mode;
    }
    if (!mode) return;
    const outcome = await icap.set(mode);
    await refresh();
    if (outcome === 'not-applied') throw new Error(vscode.l10n.t('The embedded KATA did not switch to {0} within five seconds.', mode));
    void vscode.window.setStatusBarMessage(vscode.l10n.t('Embedded KATA: ICAP mode {0}', mode), 4000);
  });

  void refresh();
  return { refresh };
}
