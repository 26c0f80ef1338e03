import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readDirectoryLock } from '../common/dirLock';
import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import { readJsonFile, writeFileAtomic } from './atomicFile';
import { ICAP_MODES, type IcapMode } from './icapServiceLog';

/**
 * The embedded KATA's ICAP mode, switchable from outside its process (`kds emulate mode`, VS Code
 * on a `kds demo` running in a terminal) through its data folder:
 * - `icap-mode.json` — the mode asked for last, by whom and when; written by whoever switches it
 *   (the CLI, VS Code, the console, the emulator at start). The running emulator follows it.
 * - `icap-mode.state.json` — the mode the running emulator uses, with its pid; written only by it,
 *   after every switch, so a switch from outside can be confirmed.
 */
export const icapModeRequestFile = 'icap-mode.json';
export const icapModeStateFile = 'icap-mode.state.json';
/** The emulator's data-folder lock (server.ts). */
const emulatorLockFile = 'emulator.pid';

export interface IcapModeRequest {
  mode: IcapMode;
  /** Who asked: "console", "kds emulate mode", "VS Code", "start". */
  by: string;
  at: string;
}

export interface IcapModeState {
  mode: IcapMode;
  pid: number;
  at: string;
  /** icap://HOST:PORT of the running ICAP server. */
  url?: string;
}

export function isIcapMode(v: unknown): v is IcapMode {
  return typeof v === 'string' && (ICAP_MODES as readonly string[]).includes(v);
}

/** The last request in `dataDir`; undefined when there is none or it is not a valid one. */
export async function readIcapModeRequest(dataDir: string): Promise<IcapModeRequest | undefined> {
  const r = await readJsonFile<Partial<IcapModeRequest>>(join(dataDir, icapModeRequestFile)).catch(() => undefined);
  return r && isIcapMode(r.mode) ? { mode: r.mode, by: typeof r.by === 'string' ? r.by : '?', at: typeof r.at === 'string' ? r.at : '' } : undefined;
}

export async function writeIcapModeRequest(dataDir: string, mode: IcapMode, by: string): Promise<void> {
  const request: IcapModeRequest = { mode, by, at: new Date().toISOString() };
  await writeFileAtomic(join(dataDir, icapModeRequestFile), JSON.stringify(request) + '\n');
}

/** Where the embedded KATA of `dataDir` stands: the mode its running process uses, or the one it starts with. */
export interface IcapModeStatus {
  /** The pid of the emulator running on `dataDir` (0: none). */
  pid: number;
  /** The mode in use (running) or asked for last (not running; undefined: the default at next start). */
  mode: IcapMode | undefined;
  /** The running emulator has an ICAP server (it wrote its state). */
  icap: boolean;
  /** Its icap://HOST:PORT, when it runs. */
  url?: string;
}

export async function icapModeStatus(dataDir: string): Promise<IcapModeStatus> {
  const lock = await readDirectoryLock(dataDir, emulatorLockFile).catch(() => undefined);
  const pid = lock?.alive ? lock.pid : 0;
  if (pid) {
    const state = await readJsonFile<Partial<IcapModeState>>(join(dataDir, icapModeStateFile)).catch(() => undefined);
    if (state?.pid === pid && isIcapMode(state.mode)) return { pid, mode: state.mode, icap: true, ...(typeof state.url === 'string' && { url: state.url }) };
  }
  return { pid, mode: (await readIcapModeRequest(dataDir))?.mode, icap: false };
}

/**
 * Asks for `mode` in `dataDir` and, when an emulator with an ICAP server runs there, waits (at
 * most `timeoutMs`) until it reports using it. 'applied': in use now; 'saved': nothing runs
 * there, the next start uses it; 'not-applied': an emulator runs but did not switch in time
 * (started without an ICAP server, say).
 */
export async function requestIcapMode(dataDir: string, mode: IcapMode, by: string, o: { timeoutMs?: number; pollMs?: number } = {}): Promise<'applied' | 'saved' | 'not-applied'> {
  await writeIcapModeRequest(dataDir, mode, by);
  const deadline = Date.now() + (o.timeoutMs ?? 5000);
  for (;;) {
    const now = await icapModeStatus(dataDir);
    if (!now.pid) return 'saved';
    if (now.icap && now.mode === mode) return 'applied';
    if (Date.now() >= deadline) return 'not-applied';
    await new Promise((r) => setTimeout(r, o.pollMs ?? 100));
  }
}

/** What the ICAP server offers for switching (RunningIcapServer). */
interface ModeHolder {
  url?: string;
  mode(): IcapMode;
  setMode(mode: IcapMode, by: string): void;
}

/**
 * Inside the running emulator: switches `icap` when icap-mode.json changes, and writes
 * icap-mode.state.json after every switch (its own, through `set`, included). Returns `set` (the
 * one way the console and VS Code switch it) and `stop`.
 */
export async function followIcapModeFile(
  dataDir: string,
  icap: ModeHolder,
  o: { logger?: Logger; pollMs?: number } = {},
): Promise<{ set(mode: IcapMode, by: string): Promise<void>; stop(): void }> {
  const requestPath = join(dataDir, icapModeRequestFile);
  const signature = async () => {
    const st = await stat(requestPath).catch(() => undefined);
    return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : '';
  };
  const writeState = () =>
    writeFileAtomic(join(dataDir, icapModeStateFile), JSON.stringify({ mode: icap.mode(), pid: process.pid, at: new Date().toISOString(), ...(icap.url && { url: icap.url }) } satisfies IcapModeState) + '\n');
  // The mode this start uses is the one to keep (an explicit --icap-mode over an older request).
  if ((await readIcapModeRequest(dataDir))?.mode !== icap.mode()) await writeIcapModeRequest(dataDir, icap.mode(), 'start');
  let seen = await signature();
  let busy = false;
  let stopped = false;
  const set = async (mode: IcapMode, by: string) => {
    icap.setMode(mode, by);
    await writeIcapModeRequest(dataDir, mode, by);
    seen = await signature();
    await writeState();
  };
  await writeState();
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    void (async () => {
      const sig = await signature();
      if (sig === seen) return;
      seen = sig;
      const request = await readIcapModeRequest(dataDir);
      if (!request) return;
      if (request.mode !== icap.mode()) icap.setMode(request.mode, request.by);
      await writeState();
    })()
      .catch((err: Error) => o.logger?.warn('emulator.icap', t('Cannot follow {0}: {1}', requestPath, err.message)))
      .finally(() => {
        busy = false;
      });
  }, o.pollMs ?? 500);
  timer.unref?.();
  return {
    set,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
