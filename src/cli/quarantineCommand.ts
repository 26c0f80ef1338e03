import { userInfo } from 'node:os';
import { t } from '../common/l10n';
import { QuarantineActionError, deleteFromQuarantine, quarantineAuditFile, releaseFromQuarantine } from '../engine/quarantineActions';
import { chooseShare, loadConfigForCommand } from './cliConfig';
import { type CliCommand, UsageError, parseOptions } from './command';
import { ExitCode } from '../common/exitCode';
import { serviceLogger } from './serviceLogger';

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

export const command: CliCommand = {
  name: 'quarantine',
  summary: 'Release a file from quarantine or delete it (audited)',
  help: `Usage: kds quarantine <release|delete> --config FILE [--share SHARE] NAME [--user U] [--reason R] [--json]

Acts on one file in the quarantine folder (qrnt_dir) of a share, exactly as the extension's Release from
Quarantine / Delete from Quarantine do (the extension runs this on the Central Node over SSH):
  release   moves the file to that share's out_dir atomically (copy, hash, fsync, rename)
  delete    removes it for good
Each action is logged at warning level to log_file and appended, fsync'ed, to
<state_dir>/quarantine-audit.jsonl with the user, the share, the file's SHA-256 and the paths.

Options:
  --config FILE   kata_dir_scanner.conf (required)
  --share SHARE   the share whose quarantine holds the file (required when there are several)
  --user U        who decided, for the audit (default: the account running the command)
  --reason R      why (optional; recorded in the audit)
  --json          print the result as one JSON line

Exit codes: 0 done, 1 refused or failed (missing, not a regular file, changed), 2 usage or configuration error.`,
  async run(argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        config: { type: 'string' },
        share: { type: 'string' },
        user: { type: 'string' },
        reason: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      true,
    );
    const [action, name, ...extra] = positionals;
    if (action !== 'release' && action !== 'delete') throw new UsageError(t('Name one of: {0}', 'release, delete'));
    if (!name || extra.length) throw new UsageError(t('Give exactly one file name in the quarantine folder.'));
    if (!values.config) throw new UsageError(t('Missing --config FILE.'));
    const loaded = await loadConfigForCommand(values.config);
    if (!loaded) return ExitCode.usage;
    const { config } = loaded;
    const share = chooseShare(config, values.share);
    const log = serviceLogger({ logFile: config.log_file, format: config.log_format === 'json' ? 'json' : 'text', toStderr: false });
    const user = values.user?.trim() || osUser();
    const reason = values.reason?.trim() || undefined;
    try {
      // The audit file is the one the extension writes too (docs/extension.md "Release and delete from quarantine").
      const request = { share: share.name, qrntDir: share.qrnt_dir, name, user, reason, logger: log.logger, auditFile: quarantineAuditFile(config.state_dir) };
      const done = action === 'release' ? await releaseFromQuarantine({ ...request, outDir: share.out_dir }) : await deleteFromQuarantine(request);
      if (values.json) process.stdout.write(JSON.stringify({ ok: true, action, share: share.name, file: name, sha256: done.sha256, path: done.path }) + '\n');
      else
        process.stdout.write(
          (action === 'release' ? t('"{0}" was released to {1} (SHA-256 {2}).', name, done.path, done.sha256) : t('"{0}" was deleted from quarantine (SHA-256 {1}).', name, done.sha256)) + '\n',
        );
      return ExitCode.ok;
    } catch (err) {
      const code = err instanceof QuarantineActionError ? err.code : 'error';
      if (values.json) process.stdout.write(JSON.stringify({ ok: false, action, share: share.name, file: name, code, error: (err as Error).message }) + '\n');
      process.stderr.write((err as Error).message + '\n');
      return ExitCode.failure;
    } finally {
      log.close();
    }
  },
};
