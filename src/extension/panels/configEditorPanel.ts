import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import * as vscode from 'vscode';
import { pluralTemplates, tn } from '../../common/l10n';
import { testConnection } from '../../configEditor/connectionTest';
import { changedSince, fingerprintFile, saveConfig } from '../../configEditor/fileWatch';
import { FormSession, formFieldInfos, formGroupInfos } from '../../configEditor/formSession';
import {
  type ConfigEditorMessage,
  type ConfigEditorRequest,
  type ConfigEditorStrings,
  type FormState,
  configEditorPanelType,
  parseConfigEditorRequest,
} from '../../webviewProtocol/configEditor';
import type { KdsServices } from '../services';
import { type PanelController, type PanelHost, type RegisteredPanel, registerWebviewPanel } from './webviewPanel';

/**
 * "KDS: Edit Configuration": a form over kata_dir_scanner.conf (docs/configuration-editor.md).
 * The pure work (values, validation, rendering) is src/configEditor/formSession.ts; this file
 * reads and writes the file, watches it, runs the pickers and the connection test.
 * After a save, extension.ts's watcher on the configuration reloads the engine and offers a
 * restart when it is running — nothing to do here.
 */
export function registerConfigEditorPanel(s: KdsServices): RegisteredPanel {
  const closed: ClosedWithEdits = {};
  const panel: RegisteredPanel = registerWebviewPanel<ConfigEditorRequest, ConfigEditorMessage>(s.context, s.log, {
    viewType: configEditorPanelType,
    bundle: 'configEditor',
    title: () => vscode.l10n.t('KDS Configuration'),
    parse: parseConfigEditorRequest,
    create: (host) => new ConfigEditorController(host, s, closed, () => panel.open()),
  });
  return panel;
}

/**
 * A WebviewPanel cannot veto its closing (only a CustomEditor can, and this form is not an editor
 * of the file's text: it validates before writing, keeps unknown keys and refuses to save an
 * invalid form). So, as honestly as a panel can: the tab's title carries "●" while there are
 * unsaved edits, and closing it then asks Save / Don't Save / Cancel, as editors do — Cancel
 * (or Escape) reopens the form with the edits; nothing is dropped without the user's word.
 */
interface ClosedWithEdits {
  /** The session of a form closed with unsaved edits, handed to the form reopened by Cancel. */
  session?: FormSession;
  notice?: FormState['notice'];
}

class ConfigEditorController implements PanelController<ConfigEditorRequest> {
  private session: FormSession | undefined;
  private watcher: vscode.FileSystemWatcher | undefined;
  private testing = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly host: PanelHost<ConfigEditorMessage>,
    private readonly s: KdsServices,
    private readonly closed: ClosedWithEdits,
    private readonly reopen: () => void,
  ) {
    if (closed.session) {
      this.session = closed.session;
      closed.session = undefined;
    }
  }

  async onRequest(r: ConfigEditorRequest): Promise<void> {
    switch (r.type) {
      case 'ready':
        // Also after hide/show (the page reloads): the session and its edits live on here.
        await this.host.post({ type: 'init', strings: strings(), locale: vscode.env.language, fields: formFieldInfos(), groups: formGroupInfos() });
        if (!this.session || this.session.path !== this.path()) await this.load();
        else this.watch(this.session.path);
        this.post(true, this.closed.notice);
        this.closed.notice = undefined;
        return;
      case 'edit': {
        const session = this.session;
        if (session?.edit(r.key, r.value)) this.post(false);
        return;
      }
      case 'restore':
        if (this.session && this.session.restore(r.inputs, r.baseSha256) > 0) this.post(true);
        return;
      case 'browse':
        await this.browse(r.key);
        return;
      case 'save':
        await this.save(false);
        return;
      case 'overwrite':
        await this.save(true);
        return;
      case 'reload':
        await this.load();
        this.post(true);
        return;
      case 'test':
        await this.test();
        return;
      case 'openAsText':
        if (this.session?.path) await vscode.window.showTextDocument(vscode.Uri.file(this.session.path));
        return;
    }
  }

  dispose(): void {
    this.watcher?.dispose();
    this.watcher = undefined;
    this.watcherPath = '';
    for (const d of this.disposables) d.dispose();
    const session = this.session;
    if (session?.path && session.edited && !session.parseError) void this.askToSave(session);
  }

  /** The tab was closed with unsaved edits: Save / Don't Save / Cancel (reopens the form with them). */
  private async askToSave(session: FormSession): Promise<void> {
    const save = vscode.l10n.t('Save');
    const dontSave = vscode.l10n.t("Don't Save");
    const answer = await vscode.window.showWarningMessage(
      vscode.l10n.t('Do you want to save the changes you made to {0}?', basename(session.path)),
      { modal: true, detail: vscode.l10n.t("The KDS Configuration tab was closed with unsaved changes to {0}. They are lost if you don't save them.", session.path) },
      save,
      dontSave,
    );
    if (answer === dontSave) return;
    if (answer === save) {
      const notice = await this.writeSession(session, false);
      if (notice.kind === 'info') {
        void vscode.window.setStatusBarMessage(notice.text, 5000);
        return;
      }
      this.closed.notice = notice; // not saved: show why, with the edits, in the reopened form
    }
    this.closed.session = session;
    this.reopen();
  }

  /** Writes the form; the notice says what happened (an error keeps the form dirty). */
  private async writeSession(session: FormSession, overwrite: boolean): Promise<NonNullable<FormState['notice']>> {
    // Safer of the two: an invalid form is never written (the service would refuse to start).
    const problems = Object.keys(session.errors()).length;
    if (problems > 0) return { kind: 'error', text: tn(problems, 'The form has {0} problem; fix it before saving.', 'The form has {0} problems; fix them before saving.') };
    const text = session.render();
    try {
      const result = await saveConfig(session.path, text, session.fingerprint, { overwrite });
      if (!result.ok) {
        session.changedOnDisk = true;
        return { kind: 'error', text: vscode.l10n.t('The file changed on disk since you opened it.') };
      }
      session.saved(text, result.fingerprint);
      this.s.log.info(`[config-editor] saved ${session.path}`);
      return { kind: 'info', text: vscode.l10n.t('Saved {0}.', session.path) };
    } catch (err) {
      return { kind: 'error', text: vscode.l10n.t('Cannot save {0}: {1}', session.path, (err as Error).message) };
    }
  }

  /** The configuration file, absolute ('' without a workspace folder and kds.configPath). */
  private path(): string {
    const p = this.s.engine.configPath();
    return p ? (isAbsolute(p) ? p : resolve(p)) : '';
  }

  private post(replaceInputs: boolean, notice?: FormState['notice']): void {
    if (!this.session) return;
    // The tab says "●" while closing it would lose edits, as an editor's tab does.
    const title = vscode.l10n.t('KDS Configuration');
    this.host.panel.title = this.session.edited && !this.session.parseError ? `● ${title}` : title;
    void this.host.post({ type: 'state', state: this.session.state(replaceInputs, notice) });
  }

  private async load(): Promise<void> {
    const path = this.path();
    const session = new FormSession(path);
    if (!path) {
      session.load(undefined, undefined);
      this.session = session;
      return;
    }
    const fingerprint = await fingerprintFile(path).catch(() => undefined);
    const text = fingerprint ? await readFile(path, 'utf8').catch(() => undefined) : undefined;
    session.load(text, text === undefined ? undefined : fingerprint);
    this.session = session;
    this.watch(path);
  }

  /** Notices edits by others while the form is open: a clean form just reloads, an edited one shows the banner. */
  private watch(path: string): void {
    if (this.watcher && this.watcherPath === path) return;
    this.watcher?.dispose();
    this.watcherPath = path;
    this.watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(dirname(path)), basename(path)));
    const changed = () => void this.onDiskChange();
    this.watcher.onDidChange(changed);
    this.watcher.onDidCreate(changed);
    this.watcher.onDidDelete(changed);
  }
  private watcherPath = '';

  private async onDiskChange(): Promise<void> {
    const session = this.session;
    if (!session?.path || session.changedOnDisk) return;
    if (!(await changedSince(session.path, session.fingerprint).catch(() => false))) return; // our own save, or a touch
    if (!session.dirty || session.parseError) {
      await this.load();
      this.post(true, { kind: 'info', text: vscode.l10n.t('The file changed on disk; the form was reloaded.') });
      return;
    }
    session.changedOnDisk = true;
    this.post(false);
  }

  private async browse(key: string): Promise<void> {
    const session = this.session;
    const field = session?.field(key);
    if (!session || !field || (field.kind !== 'folder' && field.kind !== 'file')) return;
    const folder = field.kind === 'folder';
    const base = session.path ? dirname(session.path) : undefined;
    const current = session.state(false).inputs[key];
    const start = typeof current === 'string' && current.trim() ? (isAbsolute(current) ? current : base ? resolve(base, current) : undefined) : base;
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: folder,
      canSelectFiles: !folder,
      canSelectMany: false,
      defaultUri: start ? vscode.Uri.file(folder ? start : dirname(start)) : undefined,
      openLabel: folder ? vscode.l10n.t('Use This Folder') : vscode.l10n.t('Use This File'),
      title: field.title,
    });
    if (!picked?.[0] || this.session !== session) return;
    session.edit(key, session.pickedPath(key, picked[0].fsPath));
    this.post(true);
  }

  private async save(overwrite: boolean): Promise<void> {
    const session = this.session;
    if (!session) return;
    if (!session.path) {
      this.post(false, { kind: 'error', text: vscode.l10n.t('Open a folder or set kds.configPath first.') });
      return;
    }
    if (session.parseError) return;
    const notice = await this.writeSession(session, overwrite);
    if (notice.kind === 'error' && session.changedOnDisk) {
      this.post(false);
      return;
    }
    this.post(notice.kind === 'info', notice);
  }

  private async test(): Promise<void> {
    const session = this.session;
    if (!session || this.testing || session.parseError) return;
    if (!vscode.workspace.isTrusted) {
      this.post(false, { kind: 'error', text: vscode.l10n.t('Test Connection is off in an untrusted workspace: it would contact the server named in this workspace\'s configuration.') });
      return;
    }
    if (!session.path) {
      this.post(false, { kind: 'error', text: vscode.l10n.t('Open a folder or set kds.configPath first.') });
      return;
    }
    this.testing = true;
    void this.host.post({ type: 'testStarted' });
    try {
      const r = await testConnection(session.path, { text: session.render() });
      await this.host.post({ type: 'testResult', exitCode: r.exitCode, items: r.items });
    } catch (err) {
      await this.host.post({ type: 'testResult', exitCode: 1, items: [{ id: 'error', status: 'fail', title: (err as Error).message, details: [] }] });
    } finally {
      this.testing = false;
    }
  }
}

function strings(): ConfigEditorStrings {
  return {
    title: vscode.l10n.t('KDS Configuration'),
    file: vscode.l10n.t('File: {0}'),
    required: vscode.l10n.t('required'),
    browse: vscode.l10n.t('Browse…'),
    browseLabel: vscode.l10n.t('Browse for {0}'),
    save: vscode.l10n.t('Save'),
    revert: vscode.l10n.t('Revert'),
    test: vscode.l10n.t('Test Connection'),
    testing: vscode.l10n.t('Testing the connection…'),
    openAsText: vscode.l10n.t('Open as Text'),
    reload: vscode.l10n.t('Reload'),
    overwrite: vscode.l10n.t('Overwrite'),
    changedOnDisk: vscode.l10n.t('The file changed on disk since you opened it.'),
    changedOnDiskHint: vscode.l10n.t('Reload discards your edits; Overwrite replaces the file with this form.'),
    parseError: vscode.l10n.t('The file is not valid JSON, so the form cannot show it. Fix it as text, then reload.'),
    newFile: vscode.l10n.t('The file does not exist yet: the form starts from the original template, and Save creates it.'),
    noPath: vscode.l10n.t('Open a folder or set kds.configPath first.'),
    unknownKeys: vscode.l10n.t('Other keys in the file'),
    unknownKeysHint: vscode.l10n.t('KDS does not know these keys; they are kept as they are when you save.'),
    ...pluralTemplates('problems', '{0} problem: fix it to save.', '{0} problems: fix them to save.'),
    valid: vscode.l10n.t('The configuration is valid.'),
    saved: vscode.l10n.t('No unsaved changes.'),
    unsaved: vscode.l10n.t('Unsaved changes.'),
    wholeFile: vscode.l10n.t('The whole file'),
    defaultValue: vscode.l10n.t('Default: {0}'),
    notSet: vscode.l10n.t('(default: {0})'),
    auto: vscode.l10n.t('auto'),
    yes: vscode.l10n.t('yes'),
    no: vscode.l10n.t('no'),
    exitCode: vscode.l10n.t('Exit code {0}'),
    testResult0: vscode.l10n.t('All checks passed.'),
    testResult1: vscode.l10n.t('A check failed.'),
    testResult2: vscode.l10n.t('The configuration is not valid.'),
    testResult3: vscode.l10n.t('Everything works, but KATA has not approved this system yet.'),
    statusOk: vscode.l10n.t('passed'),
    statusWarn: vscode.l10n.t('warning'),
    statusFail: vscode.l10n.t('failed'),
    saveBlocked: vscode.l10n.t('Save is available once the form is valid.'),
    close: vscode.l10n.t('Close'),
  };
}
