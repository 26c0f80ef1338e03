/**
 * The workspace-settings boundary. A repository's `.vscode/settings.json` (or a `.code-workspace`
 * file) is written by whoever wrote the repository; a setting that decides what runs as root on
 * a Central Node, where KDS connects or which host keys it trusts must never come from there.
 * These settings are read from the user's own levels only: User (and Remote/Machine) settings
 * and the default.
 *
 * The manifest declares them `"scope": "machine"` and lists them in `restrictedConfigurations`,
 * but that is not enough on its own: VS Code 1.100 still applies a workspace value written as
 * a nested object (`{"kds": {"remote": {"engineCommand": [...]}}}`) — in Restricted Mode too.
 * So KDS reads every one of them through `userLevelValue` (inspect(), never get()) and tells the
 * user once when a workspace tried to set one (`protectedKeysIn` finds both spellings in the
 * workspace's own files, where VS Code's API no longer shows the flat one).
 *
 * A new setting of this kind (as the saved Central Nodes, kds.centralNodes) is added to
 * USER_LEVEL_SETTINGS; the manifest test then requires its scope and restriction.
 */
export const USER_LEVEL_SETTINGS = [
  'kds.remote.host',
  'kds.remote.port',
  'kds.remote.user',
  'kds.remote.identityFile',
  'kds.remote.useAgent',
  'kds.remote.configPath',
  'kds.remote.knownHostsFiles',
  'kds.remote.sudo',
  'kds.remote.serviceName',
  'kds.remote.engineCommand',
  'kds.remote.setupPrefix',
  'kds.centralNodes',
] as const;

export type UserLevelSetting = (typeof USER_LEVEL_SETTINGS)[number];

/** What vscode's WorkspaceConfiguration.inspect() returns, restated (this folder imports no vscode). */
export interface SettingLevels<T> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
  defaultLanguageValue?: T;
  globalLanguageValue?: T;
  workspaceLanguageValue?: T;
  workspaceFolderLanguageValue?: T;
}

export interface UserLevelValue<T> {
  /** The User/Machine value, else the default. */
  value: T | undefined;
  /** A workspace, folder or language-specific workspace value was present and ignored. */
  ignoredWorkspaceValue: boolean;
}

/** The value KDS honours: never one from the workspace or a workspace folder. */
export function userLevelValue<T>(levels: SettingLevels<T> | undefined): UserLevelValue<T> {
  if (!levels) return { value: undefined, ignoredWorkspaceValue: false };
  const ignoredWorkspaceValue = [levels.workspaceValue, levels.workspaceFolderValue, levels.workspaceLanguageValue, levels.workspaceFolderLanguageValue].some((v) => v !== undefined);
  return { value: levels.globalValue !== undefined ? levels.globalValue : levels.defaultValue, ignoredWorkspaceValue };
}

/**
 * Which of `keys` a settings file sets, in either spelling VS Code accepts ("a.b.c": …, or
 * {"a": {"b": {"c": …}}}, also inside language blocks like "[json]": {…}). The text is read as
 * VS Code reads it (comments, trailing commas). `section` is "settings" for a .code-workspace file.
 */
export function protectedKeysIn(text: string, keys: readonly string[], section?: string): string[] {
  let root: unknown;
  try {
    root = JSON.parse(jsonWithoutComments(text));
  } catch {
    return [];
  }
  if (section !== undefined) root = isObject(root) ? root[section] : undefined;
  if (!isObject(root)) return [];
  const found = new Set<string>();
  const wanted = new Set(keys);
  const walk = (obj: Record<string, unknown>, prefix: string, depth: number): void => {
    if (depth > 16) return;
    for (const [k, v] of Object.entries(obj)) {
      if (prefix === '' && /^\[.*\]$/.test(k)) {
        if (isObject(v)) walk(v, '', depth + 1);
        continue;
      }
      const key = prefix ? `${prefix}.${k}` : k;
      if (wanted.has(key)) found.add(key);
      else if (isObject(v) && [...wanted].some((w) => w.startsWith(`${key}.`))) walk(v, key, depth + 1);
    }
  };
  walk(root, '', 0);
  return keys.filter((k) => found.has(k));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * VS Code's settings files are JSON with comments and trailing commas: both removed, strings
 * (with their escapes) left as they are, so JSON.parse reads the rest.
 */
export function jsonWithoutComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === ',') {
      // A comma followed (past white space and comments) by a closing bracket goes.
      let j = i + 1;
      for (;;) {
        while (j < text.length && /\s/.test(text[j]!)) j++;
        if (text.startsWith('//', j)) while (j < text.length && text[j] !== '\n') j++;
        else if (text.startsWith('/*', j)) j = text.indexOf('*/', j + 2) < 0 ? text.length : text.indexOf('*/', j + 2) + 2;
        else break;
      }
      if (text[j] !== '}' && text[j] !== ']') out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
