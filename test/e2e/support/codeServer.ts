import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FatalWait, waitFor } from './wait';

const run = promisify(execFile);

export const repoRoot = resolve(__dirname, '../../..');
export const codeServerBin = join(repoRoot, '.e2e/code-server/node_modules/.bin/code-server');
export const chromiumPath = '/usr/bin/chromium';
export const vsixPath = join(repoRoot, 'kds-0.1.0.vsix');
export const resultsDir = join(repoRoot, 'test-results');
/** KDS's id in code-server's extension list: <publisher>.<name>. */
export const extensionId = 'kds.kds';

/**
 * What the e2e tests need on this machine. `missing` empty = ready. Under CI=true the tests
 * never skip; otherwise they skip only when not root and system packages are missing.
 */
export function prerequisites(): { missing: string[]; mayInstall: boolean } {
  const missing: string[] = [];
  if (!existsSync(chromiumPath)) missing.push(`${chromiumPath} (Debian package chromium)`);
  if (!existsSync('/usr/bin/rg')) missing.push('/usr/bin/rg (Debian package ripgrep)');
  if (!existsSync(codeServerBin)) missing.push(`${codeServerBin} (bash scripts/setup-e2e.sh)`);
  if (!existsSync(join(repoRoot, 'node_modules/playwright-core/package.json'))) missing.push('playwright-core (npm install)');
  if (!existsSync(vsixPath)) missing.push(`${vsixPath} (npm run package)`);
  return { missing, mayInstall: process.getuid?.() === 0 };
}

/**
 * undefined = run; a string = the reason to skip, printed plainly. Throws under CI, or as root
 * (where scripts/setup-e2e.sh could have installed everything), so a broken set-up never passes
 * silently.
 */
export function skipReason(): string | undefined {
  const { missing, mayInstall } = prerequisites();
  if (missing.length === 0) return undefined;
  const what = `e2e prerequisites missing: ${missing.join('; ')}`;
  if (process.env.CI === 'true' || mayInstall) throw new Error(`${what}. Run: bash scripts/setup-e2e.sh && npm run package`);
  const reason = `SKIPPING e2e tests: not root and ${what}. As root: bash scripts/setup-e2e.sh`;
  console.log(`# ${reason}`);
  return reason;
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => ok(port));
    });
  });
}

export interface CodeServer {
  url: string;
  port: number;
  pid: number;
  base: string;
  userDataDir: string;
  extensionsDir: string;
  logPath: string;
  /** The page URL that opens `folder` in the workbench. */
  folderUrl(folder: string): string;
  stop(): Promise<void>;
}

/** A fresh temp folder for one test file; removed by the caller (kept when KDS_E2E_KEEP=1). */
export function freshDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  if (process.env.KDS_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
}

/** Installs the packaged .vsix (not the source folder) into a fresh extensions folder. */
export async function installVsix(extensionsDir: string, userDataDir: string, vsix = vsixPath): Promise<void> {
  const { stdout, stderr } = await run(codeServerBin, ['--extensions-dir', extensionsDir, '--user-data-dir', userDataDir, '--install-extension', vsix], {
    timeout: 120_000,
  });
  const text = stdout + stderr;
  if (!/was successfully installed|is already installed/i.test(text)) throw new Error(`installing ${vsix} failed:\n${text}`);
}

export interface CodeServerOptions {
  locale?: string;
  languagePackStub?: boolean;
  settings?: Record<string, unknown>;
  /** Workspace trust on (VS Code's default): a folder opened for the first time is in Restricted Mode. */
  workspaceTrust?: boolean;
}

/**
 * Installs the .vsix into fresh folders under `base` and starts code-server on 127.0.0.1 on a
 * free port. Stopped by the process group of the id we started, never by name.
 */
export async function startCodeServer(base: string, opts: CodeServerOptions = {}): Promise<CodeServer> {
  const userDataDir = join(base, 'user-data');
  const extensionsDir = join(base, 'extensions');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'security.workspace.trust.enabled': !!opts.workspaceTrust,
        // No start-up modal: the folder simply opens in Restricted Mode, as after "Don't Trust".
        'security.workspace.trust.startupPrompt': 'never',
        'window.dialogStyle': 'custom',
        'workbench.enableExperiments': false,
        ...opts.settings,
      },
      null,
      2,
    ),
  );
  await installVsix(extensionsDir, userDataDir);
  if (opts.locale && opts.languagePackStub) {
    await installVsix(extensionsDir, userDataDir, await languagePackStub(base, opts.locale));
    registerLanguagePack(userDataDir, extensionsDir, opts.locale);
  }
  const port = await freePort();
  const logPath = join(base, 'code-server.log');
  const out = openSync(logPath, 'a');
  const args = [
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--extensions-dir', extensionsDir,
    '--user-data-dir', userDataDir,
    '--disable-telemetry',
    '--disable-update-check',
    ...(opts.workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    '--ignore-last-opened',
  ];
  if (opts.locale) args.push('--locale', opts.locale);
  const child: ChildProcess = spawn(codeServerBin, args, { detached: true, stdio: ['ignore', out, out], env: { ...process.env, VSCODE_PROXY_URI: '' } });
  const pid = child.pid;
  if (pid === undefined) throw new Error('code-server did not start');
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('code-server to answer /healthz', async () => {
      if (exited !== undefined) throw new FatalWait(`code-server exited with ${exited}:\n${readFileSync(logPath, 'utf8')}`);
      try {
        const res = await fetch(`${url}/healthz`);
        return res.ok ? true : undefined;
      } catch {
        return undefined;
      }
    }, 60_000);
  } catch (err) {
    killGroup(pid);
    throw err;
  }
  return {
    url,
    port,
    pid,
    base,
    userDataDir,
    extensionsDir,
    logPath,
    folderUrl: (folder) => `${url}/?folder=${encodeURIComponent(folder)}`,
    stop: async () => {
      if (exited !== undefined) return;
      killGroup(pid, 'SIGTERM');
      try {
        await waitFor('code-server to exit', () => (exited !== undefined ? true : undefined), 10_000);
      } catch {
        killGroup(pid, 'SIGKILL');
      }
    },
  };
}

/** The process group we created with detached: true (code-server and the helpers it started). */
function killGroup(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * VS Code adopts a display language only when a language pack for it is installed (otherwise
 * `--locale ru` resolves to English: vscode.env.language stays "en"). No Russian language pack
 * is available offline, so this builds a stand-in: a language-pack extension for `languageId`
 * with an empty translation of VS Code's own strings (the workbench stays English). With it
 * installed VS Code resolves the language to `languageId`, and every KDS string that then
 * appears in Russian comes from KDS's own package.nls.<lang>.json and l10n bundle.
 */
export async function languagePackStub(base: string, languageId: string): Promise<string> {
  const dir = join(base, `language-pack-stub-${languageId}`);
  mkdirSync(join(dir, 'translations'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: `e2e-language-pack-stub-${languageId}`,
      displayName: `E2E language pack stub (${languageId})`,
      description: 'Test fixture: makes VS Code resolve this display language; translates nothing of VS Code itself.',
      publisher: 'kds-e2e',
      version: '0.0.1',
      license: 'MIT',
      engines: { vscode: '^1.96.0' },
      categories: ['Language Packs'],
      contributes: {
        localizations: [{ languageId, languageName: languageId, localizedLanguageName: languageId, translations: [{ id: 'vscode', path: './translations/main.i18n.json' }] }],
      },
    }),
  );
  writeFileSync(join(dir, 'translations', 'main.i18n.json'), JSON.stringify({ version: '1.0.0', contents: {} }));
  writeFileSync(join(dir, 'README.md'), 'E2E test fixture.\n');
  writeFileSync(join(dir, 'LICENSE'), 'MIT\n');
  const out = join(base, `language-pack-stub-${languageId}.vsix`);
  await run(join(repoRoot, 'node_modules/.bin/vsce'), ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '-o', out], { cwd: dir, timeout: 60_000 });
  return out;
}

/**
 * `--install-extension` does not refresh `<user-data>/languagepacks.json` (VS Code's language
 * pack cache, which the server reads to resolve the display language); the running server
 * would only rebuild it later. Write the entry VS Code itself would write.
 */
function registerLanguagePack(userDataDir: string, extensionsDir: string, languageId: string): void {
  const id = `kds-e2e.e2e-language-pack-stub-${languageId}`;
  const version = '0.0.1';
  const entry = {
    hash: createHash('md5').update(id).update(version).digest('hex'),
    extensions: [{ extensionIdentifier: { id }, version }],
    translations: { vscode: join(extensionsDir, `${id}-${version}`, 'translations', 'main.i18n.json') },
    label: languageId,
  };
  writeFileSync(join(userDataDir, 'languagepacks.json'), JSON.stringify({ [languageId]: entry }));
}
