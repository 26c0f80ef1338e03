import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';

const SCAN_TIMEOUT_S = 20;

/** The scan did not finish in time; the verdict for the object is `timeout`. */
export class ScanTimeoutError extends Error {}

/** `files`: how many objects the run covers; each may take up to SCAN_TIMEOUT_S. */
function run(program: string, args: string[], signal?: AbortSignal, files = 1): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // An argument array and no shell: file names from clients can never become commands.
    execFile(program, args, { timeout: (SCAN_TIMEOUT_S * files + 5) * 1000, maxBuffer: 16 * 1024 * 1024, signal, windowsHide: true }, (err, stdout, stderr) => {
      if (err && (err as { killed?: boolean }).killed && !signal?.aborted) {
        reject(new ScanTimeoutError(`${program} timed out`));
        return;
      }
      if (err && typeof (err as NodeJS.ErrnoException).code !== 'number') {
        reject(err);
        return;
      }
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * YARA rules from `<data>/rules/*.yar` (and *.yara), applied by the `yara` program when it is
 * installed. Without the program the emulator still runs; it says so once.
 */
export class YaraScanner {
  private available: Promise<boolean> | undefined;
  private lastError = '';
  private rules: string[] = [];
  private rulesStamp = '';

  constructor(
    readonly rulesDir: string,
    private readonly logger: Logger,
    private readonly program = 'yara',
  ) {}

  /** Checks for the program once; the answer is cached for the life of the emulator. */
  isAvailable(): Promise<boolean> {
    this.available ??= run(this.program, ['--version'])
      .then((r) => {
        if (r.code !== 0) throw new Error(r.stderr);
        this.logger.info('emulator.yara', t('YARA {0} found; rules are read from {1}.', r.stdout.trim(), this.rulesDir));
        return true;
      })
      .catch(() => {
        this.logger.warn('emulator.yara', t('The yara program was not found: YARA rules in {0} are not applied.', this.rulesDir));
        return false;
      });
    return this.available;
  }

  /** True when rule files exist (the program may still be missing). */
  hasRules(): boolean {
    return this.ruleFiles().length > 0;
  }

  /**
   * The rule files, listed again only when the folder changed (a stat a scan instead of a
   * readdir): with no rules, which is the usual case, YARA costs nothing per object.
   */
  private ruleFiles(): string[] {
    let stamp: string;
    try {
      const st = statSync(this.rulesDir);
      stamp = `${st.ino}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch {
      return [];
    }
    if (stamp !== this.rulesStamp) {
      try {
        this.rules = readdirSync(this.rulesDir)
          .filter((n) => /\.(yar|yara)$/i.test(n))
          .sort()
          .map((n) => join(this.rulesDir, n));
        this.rulesStamp = stamp;
      } catch {
        return [];
      }
    }
    return this.rules;
  }

  /** Names of the rules that match `file`; none when YARA is missing or the rules do not compile. */
  async scan(file: string, signal?: AbortSignal): Promise<string[]> {
    const r = (await this.scanMany([file], signal)).get(file);
    if (r instanceof Error) throw r;
    return r ?? [];
  }

  /**
   * One `yara --scan-list` run for a batch of objects: the rules are compiled once and one
   * process is started per batch, not per object (at hundreds of objects a second, a process
   * each was the emulator's cost). Per file: the matching rule names, or a ScanTimeoutError.
   * Files missing from the map matched nothing (or YARA is absent, or the rules are broken).
   */
  async scanMany(files: string[], signal?: AbortSignal): Promise<Map<string, string[] | ScanTimeoutError>> {
    const result = new Map<string, string[] | ScanTimeoutError>();
    const rules = this.ruleFiles();
    if (files.length === 0 || rules.length === 0 || !(await this.isAvailable())) return result;
    // Object paths are the emulator's own (<data>/objects/<uuid>.part), never a client's name,
    // so one a line is unambiguous. The list sits beside them; a crash leaves it for the sweep at start.
    const list = join(dirname(files[0]!), `.scan-list-${randomUUID()}`);
    writeFileSync(list, files.join('\n') + '\n', { mode: 0o600 });
    let r;
    try {
      // yara has no `--`; every path here is absolute, so none can be taken for an option.
      r = await run(this.program, ['-w', '-N', '-a', String(SCAN_TIMEOUT_S), '--scan-list', ...rules, list], signal, files.length);
    } finally {
      unlinkSync(list);
    }
    if (r.code !== 0) {
      const message = r.stderr.trim() || `exit ${r.code}`;
      if (/timeout|timed out/i.test(message) && files.length === 1) {
        result.set(files[0]!, new ScanTimeoutError(message));
        return result;
      }
      // The same broken rule would otherwise fill the log once per batch.
      if (message !== this.lastError) {
        this.lastError = message;
        this.logger.warn('emulator.yara', t('YARA failed, its rules are ignored for this object: {0}', message));
      }
      return result;
    }
    this.lastError = '';
    const wanted = new Set(files);
    for (const line of r.stderr.split('\n')) {
      // A file yara could not finish: "error scanning PATH: timeout"; other per-file errors mean no match.
      const m = /^error scanning (.+): (.*)$/.exec(line);
      if (m && wanted.has(m[1]!) && /timeout|timed out/i.test(m[2]!)) result.set(m[1]!, new ScanTimeoutError(line));
    }
    for (const line of r.stdout.split('\n')) {
      const sp = line.indexOf(' ');
      if (sp <= 0) continue;
      const rule = line.slice(0, sp);
      const file = line.slice(sp + 1);
      if (!wanted.has(file)) continue;
      const names = result.get(file);
      if (names instanceof Error) continue;
      if (!names) result.set(file, [rule]);
      else if (!names.includes(rule)) names.push(rule);
    }
    return result;
  }
}
