import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ProbeReport } from './icapProbe';

/**
 * The latest probe report kept for the support request: `kds icap probe` writes it to
 * `$XDG_STATE_HOME/kds/icap-probe-latest.json` (default `~/.local/state/kds/…`; on Windows
 * `%LOCALAPPDATA%\kds\…`), VS Code to the extension's storage; `kds support-bundle` and KDS:
 * Create Support Request put the newest one in the archive. Private: 0700 folder, 0600 file.
 */

export const PROBE_REPORT_NAME = 'icap-probe-latest.json';

export function defaultProbeReportPath(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return join(env.LOCALAPPDATA || join(homedir(), 'AppData', 'Local'), 'kds', PROBE_REPORT_NAME);
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(state, 'kds', PROBE_REPORT_NAME);
}

/** Writes the report beside its place and renames it over the last one. */
export async function saveProbeReport(path: string, report: ProbeReport): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(report, null, 2) + '\n');
  } finally {
    await fh.close();
  }
  await rename(tmp, path).catch(async (e: unknown) => {
    await rm(tmp, { force: true });
    throw e;
  });
}

/** A report read back, if the file holds one (anything else is ignored, not an error). */
export function parseProbeReport(text: string): ProbeReport | undefined {
  try {
    const r = JSON.parse(text) as Partial<ProbeReport>;
    if (typeof r.uri !== 'string' || typeof r.startedAt !== 'string' || !Array.isArray(r.steps) || typeof r.conclusion?.text !== 'string') return undefined;
    return r as ProbeReport;
  } catch {
    return undefined;
  }
}

export async function loadProbeReport(path: string): Promise<ProbeReport | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseProbeReport(text);
}

/** The newest of several reports (by startedAt). */
export function newestReport(reports: Array<ProbeReport | undefined>): ProbeReport | undefined {
  return reports.filter((r): r is ProbeReport => !!r).sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))[0];
}
