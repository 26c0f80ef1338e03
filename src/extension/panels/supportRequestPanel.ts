import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { collect } from '../../support/collectFlow';
import { findLeaks, type PreparedEntry, writeBundle } from '../../support/bundleContents';
import { type HostAccess, LocalHostAccess, SshHostAccess } from '../../support/hostAccess';
import type { SecretScrubber } from '../../support/secretScrub';
import { defaultProbeReportPath } from '../../icap/probeReportFile';
import { compose, type Discovery, discover, gather, mergeAnswers, prefillNotes } from '../../support/supportBundle';
import { recentCaptures } from '../../support/recentCaptures';
import { CHECKLIST, CHECKLIST_KEYS, type SupportAnswers } from '../../support/supportSummary';
import {
  type SupportRequestMessage,
  type SupportRequestRequest,
  type SupportRequestStringId,
  parseSupportRequest,
  supportRequestPanelType,
} from '../../webviewProtocol/supportRequest';
import { secretKeysFor } from '../centralNode/cnConnection';
import type { KdsServices } from '../services';
import { logPathToOpen } from './icapLogPanel';
import { type PanelController, type PanelHost, type RegisteredPanel, registerWebviewPanel } from './webviewPanel';

/**
 * "KDS: Create Support Request": the checklist of the KATA documents as a form, prefilled with
 * what KDS finds out (Central Node when connected, otherwise this computer), then the archive
 * previewed and written. The logic is src/support/supportBundle.ts, shared with
 * `kds support-bundle`; this file only asks VS Code for files, confirmations and progress.
 */
export function registerSupportRequestPanel(s: KdsServices): RegisteredPanel {
  return registerWebviewPanel<SupportRequestRequest, SupportRequestMessage>(s.context, s.log, {
    viewType: supportRequestPanelType,
    bundle: 'supportRequest',
    title: () => vscode.l10n.t('KDS Support Request'),
    parse: (raw) => parseSupportRequest(raw, CHECKLIST_KEYS),
    create: (host) => new SupportRequestController(s, host),
  });
}

/** Where the support data comes from: the connected Central Node, else this computer. */
export async function hostFor(s: KdsServices): Promise<{ host: HostAccess; configPath?: string; secrets: string[]; icapLog?: string }> {
  const conn = s.centralNode?.connection;
  if (conn?.workspace) {
    const session = await conn.rs.whenConnected();
    const secrets: string[] = [];
    for (const k of secretKeysFor(conn.settings)) {
      const v = await s.context.secrets.get(k);
      if (v) secrets.push(v);
    }
    return { host: new SshHostAccess(session, conn.needsSudo() ? conn.sudoOption() : false), configPath: conn.settings.configPath, secrets };
  }
  const configPath = s.engine.configPath();
  // The ICAP log the viewer opens here: kds.icapLogPath, the embedded KATA's, else KATA's default.
  const icapLog = logPathToOpen(false, () => s.demo.current?.emulator.icap?.logPath);
  return { host: new LocalHostAccess(), ...(configPath && { configPath }), secrets: [], ...(icapLog && { icapLog }) };
}

function strings(): Record<SupportRequestStringId, string> {
  return {
    title: vscode.l10n.t('KDS Support Request'),
    intro: vscode.l10n.t('The checklist of a KATA support request. Fields KDS could fill in itself are prefilled: check them. Passwords, private keys and sudo passwords are removed from every file before the archive is written.'),
    where: vscode.l10n.t('Gathering from: {0}'),
    language: vscode.l10n.t('Language of summary.md'),
    required: vscode.l10n.t('required'),
    sources: vscode.l10n.t('What to gather'),
    kataLogs: vscode.l10n.t('KATA log-history / log-detects extracts (kata-collect-siem-logs)'),
    collect: vscode.l10n.t('kata-collect archive (can take minutes)'),
    collectNote: vscode.l10n.t('KDS configuration, log, service status and kds check --json are always included.'),
    files: vscode.l10n.t('Files to add (pcaps from both sides, screenshots)'),
    addFiles: vscode.l10n.t('Add Files…'),
    removeFile: vscode.l10n.t('Remove'),
    noFiles: vscode.l10n.t('No files added.'),
    prepare: vscode.l10n.t('Prepare and Preview'),
    preparing: vscode.l10n.t('Preparing…'),
    preview: vscode.l10n.t('The archive will hold'),
    previewNote: vscode.l10n.t('Nothing is written until you press Write Archive.'),
    notIncluded: vscode.l10n.t('Not included'),
    scrubbed: vscode.l10n.t('{0} secrets were removed.'),
    write: vscode.l10n.t('Write Archive…'),
    written: vscode.l10n.t('Written {0} ({1} bytes), SHA-256 {2}. Attach it to the support request.'),
    missing: vscode.l10n.t('Not answered yet: {0}'),
    prefilled: vscode.l10n.t('found by KDS'),
  };
}

class SupportRequestController implements PanelController<SupportRequestRequest> {
  private files: string[] = [];
  /** The files of `files` that KDS added itself (its own captures): labelled as such in the bundle. */
  private readonly own = new Set<string>();
  private prepared: { entries: PreparedEntry[]; top: string; staging: string; scrubber: SecretScrubber } | undefined;
  private busy = false;

  constructor(
    private readonly s: KdsServices,
    private readonly host: PanelHost<SupportRequestMessage>,
  ) {}

  async onRequest(r: SupportRequestRequest): Promise<void> {
    switch (r.type) {
      case 'ready':
        return this.init();
      case 'addFiles': {
        const picked = await vscode.window.showOpenDialog({
          canSelectMany: true,
          canSelectFiles: true,
          canSelectFolders: false,
          openLabel: vscode.l10n.t('Add to Support Request'),
          filters: { [vscode.l10n.t('Traffic captures')]: ['pcap', 'pcapng', 'cap'], [vscode.l10n.t('All files')]: ['*'] },
        });
        for (const u of picked ?? []) if (u.scheme === 'file' && !this.files.includes(u.fsPath)) this.files.push(u.fsPath);
        await this.host.post({ type: 'files', files: this.files });
        return;
      }
      case 'removeFile':
        this.files = this.files.filter((f) => f !== r.path);
        await this.host.post({ type: 'files', files: this.files });
        return;
      case 'prepare':
        return this.guard(() => this.prepare(r));
      case 'write':
        return this.guard(() => this.write());
    }
  }

  private async guard(fn: () => Promise<void>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await fn();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.s.log.error(`[support] ${message}`);
      await this.host.post({ type: 'error', message });
    } finally {
      this.busy = false;
    }
  }

  private async discovery(): Promise<{ host: HostAccess; d: Discovery; icapLog?: string }> {
    const h = await hostFor(this.s);
    const d = await discover(h.host, { ...(h.configPath && { configPath: h.configPath }), secrets: h.secrets });
    return { host: h.host, d, ...(h.icapLog && { icapLog: h.icapLog }) };
  }

  private async init(): Promise<void> {
    await this.guard(async () => {
      // The captures "KDS: Capture ICAP Traffic" saved lately go in unless the user removes them.
      for (const f of await recentCaptures(join(this.s.context.globalStorageUri.fsPath, 'captures'))) {
        if (this.files.includes(f)) continue;
        this.files.push(f);
        this.own.add(f);
      }
      const { host, d } = await this.discovery();
      const prefill: Record<string, string> = {};
      for (const [k, v] of Object.entries(d.prefill)) if (typeof v === 'string' && k !== 'language') prefill[k] = v;
      await this.host.post({
        type: 'init',
        strings: strings(),
        locale: vscode.env.language,
        language: vscode.env.language.startsWith('ru') ? 'ru' : 'en',
        where: host.where,
        fields: CHECKLIST.map((f) => ({ key: f.key, multiline: f.multiline, required: f.required, text: f.text })),
        prefill,
        notes: prefillNotes(d),
        files: this.files,
      });
    });
  }

  private async prepare(r: Extract<SupportRequestRequest, { type: 'prepare' }>): Promise<void> {
    await this.dropPrepared();
    const progress = (text: string) => void this.host.post({ type: 'busy', text });
    progress(vscode.l10n.t('Finding out what KDS can…'));
    const { host, d, icapLog } = await this.discovery();
    const work = await mkdtemp(join(tmpdir(), 'kds-support-'));
    const answers: SupportAnswers = { ...r.answers, language: r.language };
    const problemTime = mergeAnswers(d.prefill, answers).problemTime;
    try {
      const collectDir = vscode.Uri.joinPath(this.s.context.globalStorageUri, 'collect').fsPath;
      const g = await gather(host, d, {
        kataLogs: r.kataLogs,
        ...(r.collect && {
          collect: async () =>
            (
              await collect(host, collectDir, {
                print: (l) => this.s.log.info(`[support] ${l}`),
                progress: (done, total) => progress(vscode.l10n.t('Downloading the kata-collect archive: {0}%', total ? Math.floor((done * 100) / total) : 100)),
                confirmRemoval: async (state) => {
                  const remove = vscode.l10n.t('Remove');
                  return (await vscode.window.showWarningMessage(vscode.l10n.t('The kata-collect archive was downloaded and verified. Remove {0} on {1} to free space?', state.remotePath, host.where), { modal: true }, remove)) === remove;
                },
              })
            ).download.local,
        }),
        addFiles: this.files.filter((f) => !this.own.has(f)),
        captures: this.files.filter((f) => this.own.has(f)),
        ...(icapLog && { icapLog }),
        ...(problemTime && { problemTime }),
        probeReports: [join(this.s.context.globalStorageUri.fsPath, 'icap-probe-latest.json'), defaultProbeReportPath()],
        workDir: work,
        onStep: progress,
      });
      const staging = join(work, 'staging');
      await vscode.workspace.fs.createDirectory(vscode.Uri.file(staging));
      const { entries, top } = await compose(d, g, answers, r.language, staging);
      this.prepared = { entries, top, staging: work, scrubber: d.scrubber };
      await this.host.post({ type: 'preview', top, entries: entries.map((e) => ({ name: e.name, size: e.size, about: e.about })), notes: g.notes, scrubbed: d.scrubber.total() });
    } catch (e) {
      await rm(work, { recursive: true, force: true });
      throw e;
    }
  }

  private async write(): Promise<void> {
    const p = this.prepared;
    if (!p) return;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      title: vscode.l10n.t('Save the support archive'),
      ...(folder && { defaultUri: vscode.Uri.joinPath(folder, `${p.top}.tar.gz`) }),
      filters: { [vscode.l10n.t('Archives')]: ['tar.gz', 'gz'] },
    });
    if (!target || target.scheme !== 'file') return;
    const written = await writeBundle(p.entries, p.top, target.fsPath);
    const leaks = await findLeaks(target.fsPath, p.scrubber);
    if (leaks.length) {
      await rm(target.fsPath, { force: true });
      throw new Error(vscode.l10n.t('A secret was still found in the archive, so it was deleted: {0}', leaks.join('; ')));
    }
    await this.host.post({ type: 'written', path: target.fsPath, size: written.size, sha256: written.sha256 });
    const reveal = vscode.l10n.t('Reveal in File Explorer');
    void vscode.window.showInformationMessage(vscode.l10n.t('Support archive {0} written.', basename(target.fsPath)), reveal).then((a) => {
      if (a === reveal) void vscode.commands.executeCommand('revealFileInOS', target);
    });
  }

  private async dropPrepared(): Promise<void> {
    const p = this.prepared;
    this.prepared = undefined;
    if (p) await rm(p.staging, { recursive: true, force: true });
  }

  dispose(): void {
    void this.dropPrepared();
  }
}
