import { type ChildProcess, execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { waitFor } from './engineHarness';

export const repoRoot = resolve(__dirname, '..', '..');
export const kdsBin = join(repoRoot, 'bin', 'kds.js');
const distFile = join(repoRoot, 'dist', 'kds.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

/** `npm test` builds first; running one test file directly builds when dist/ is older than src/. */
export function ensureBuilt(): void {
  const built = existsSync(distFile) ? statSync(distFile).mtimeMs : 0;
  if (built >= newestMtime(join(repoRoot, 'src'))) return;
  execFileSync(process.execPath, [join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, stdio: 'inherit', timeout: 120_000 });
}

export interface KdsChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) once the process ended. */
  exited: Promise<number | string>;
  exitCode(): number | string | undefined;
}

/** Starts `node bin/kds.js ARGS`; killed (SIGKILL) at cleanup if still running. */
export function spawnKds(args: string[], opts: Pick<SpawnOptions, 'uid' | 'gid' | 'cwd'> & { env?: Record<string, string> } = {}): KdsChild {
  ensureBuilt();
  const child = spawn(process.execPath, [kdsBin, ...args], {
    cwd: opts.cwd ?? repoRoot,
    uid: opts.uid,
    gid: opts.gid,
    env: { ...process.env, KDS_LOCALE: 'en', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  let code: number | string | undefined;
  const exited = new Promise<number | string>((r) =>
    child.once('exit', (c, s) => {
      code = c ?? s ?? 'unknown';
      r(code);
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exited, exitCode: () => code };
}

/** Runs a short `kds` command to completion. */
export async function runKds(args: string[], timeoutMs = 30_000): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const c = spawnKds(args);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
  const code = await c.exited;
  clearTimeout(timer);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** Stops a child still running at the end of a test (SIGTERM, then SIGKILL). */
export async function stopChild(c: KdsChild): Promise<void> {
  if (c.exitCode() !== undefined) return;
  c.child.kill('SIGTERM');
  const t = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
  await c.exited;
  clearTimeout(t);
}

/** The lines of a log file (none while it does not exist). */
export function logLines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
}

/** Waits for a line of the log file that satisfies `match`. */
export function waitForLine(path: string, what: string, match: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
  return waitFor(what, () => logLines(path).find(match), timeoutMs);
}
