import * as vscode from 'vscode';
import { USER_LEVEL_SETTINGS, type UserLevelSetting, protectedKeysIn, userLevelValue } from '../common/userLevelSettings';

/**
 * Reads the settings of USER_LEVEL_SETTINGS (src/common/userLevelSettings.ts) from the User and
 * Remote/Machine levels only, and tells the user — once per setting and window — that a value a
 * workspace set was ignored, and why.
 */
export class UserLevelConfig implements vscode.Disposable {
  private readonly told = new Set<string>();
  /** Settings read with a workspace value not yet said, waiting for the look at the workspace's files. */
  private readonly ignoredSeen = new Set<string>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.subscriptions.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (USER_LEVEL_SETTINGS.some((k) => e.affectsConfiguration(k))) void this.checkWorkspaceFiles();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.checkWorkspaceFiles()),
    );
  }

  /** The value KDS honours: User/Machine, else the default; a workspace's value never. */
  get<T>(key: UserLevelSetting): T | undefined {
    const dot = key.lastIndexOf('.');
    const r = userLevelValue(vscode.workspace.getConfiguration(key.slice(0, dot)).inspect<T>(key.slice(dot + 1)));
    if (r.ignoredWorkspaceValue && !this.told.has(key)) {
      // One message naming every such setting of the file, not one per setting as each is read.
      this.ignoredSeen.add(key);
      void this.checkWorkspaceFiles();
    }
    return r.value;
  }

  /**
   * Looks for these settings in the workspace's own files: VS Code drops a flat `"kds.remote.x"`
   * of a machine-scoped setting before the API sees it, so only the file says one was there.
   */
  async checkWorkspaceFiles(): Promise<void> {
    const files: Array<{ uri: vscode.Uri; section?: string }> = (vscode.workspace.workspaceFolders ?? []).map((f) => ({ uri: vscode.Uri.joinPath(f.uri, '.vscode', 'settings.json') }));
    const wsFile = vscode.workspace.workspaceFile;
    if (wsFile && wsFile.scheme !== 'untitled') files.push({ uri: wsFile, section: 'settings' });
    for (const f of files) {
      let text: string;
      try {
        text = Buffer.from(await vscode.workspace.fs.readFile(f.uri)).toString('utf8');
      } catch {
        continue;
      }
      const keys = protectedKeysIn(text, USER_LEVEL_SETTINGS, f.section);
      if (keys.length) this.tell(keys, vscode.workspace.asRelativePath(f.uri, true));
    }
    // A value VS Code applied that no file of the workspace showed (a setting written some other way).
    const unexplained = [...this.ignoredSeen].filter((k) => !this.told.has(k));
    this.ignoredSeen.clear();
    if (unexplained.length) this.tell(unexplained, vscode.l10n.t('this workspace\'s settings'));
  }

  private tell(keys: string[], where: string): void {
    const fresh = keys.filter((k) => !this.told.has(k));
    if (!fresh.length) return;
    for (const k of fresh) this.told.add(k);
    const message = vscode.l10n.t(
      'KDS ignores {0} in {1}: the settings that decide what runs as root on a Central Node, where KDS connects and which SSH host keys it trusts are read only from your User (or Remote) settings, never from a workspace, which anyone who wrote the repository controls. Set them in your User settings if you meant them.',
      fresh.join(', '),
      where,
    );
    this.log.warn(message);
    const open = vscode.l10n.t('Open User Settings');
    void vscode.window.showWarningMessage(message, open).then((a) => {
      if (a === open) void vscode.commands.executeCommand('workbench.action.openSettings', 'kds.remote');
    });
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
