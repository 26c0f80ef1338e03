import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';

const SCAN_TIMEOUT_S = 20;

/** The scan did not finish in time; the verdict for the object is `timeout`. */
export class ScanTimeoutError extends Error {}

function run(program: string, args: string[], signal?: AbortSignal): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // An argument array and no shell: file names from clients can never become commands.
    execFile(program, args, { timeout: (SCAN_TIMEOUT_S + 5) * 1000, maxBuffer: 4 * 1024 * 1024, signal, windowsHide: true }, (err, stdout, stderr) => {
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
    const rules = this.ruleFiles();
    if (rules.length === 0 || !(await this.isAvailable())) return [];
    // yara has no `--`; every path here is absolute, so none can be taken for an option.
    const r = await run(this.program, ['-w', '-N', '-a', String(SCAN_TIMEOUT_S), ...rules, file], signal);
    if (r.code !== 0 && /timeout|timed out/i.test(r.stderr)) throw new ScanTimeoutError(r.stderr.trim());
    if (r.code !== 0) {
      const message = r.stderr.trim() || `exit ${r.code}`;
      // The same broken rule would otherwise fill the log once per scan.
      if (message !== this.lastError) {
        this.lastError = message;
        this.logger.warn('emulator.yara', t('YARA failed, its rules are ignored for this object: {0}', message));
      }
      return [];
    }
    this.lastError = '';
    const names = new Set<string>();
    for (const line of r.stdout.split('\n')) {
      const rule = /^(\S+)\s/.exec(line)?.[1];
      if (rule) names.add(rule);
    }
    return [...names];
  }
}
