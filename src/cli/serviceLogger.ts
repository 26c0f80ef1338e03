import { FileSink, KdsLogger, type LogLevel, formatJson, formatText, streamSink } from '../common/log';
import { t } from '../common/l10n';

/**
 * The logger of a foreground service: the configured log file, plus the terminal when there is
 * one (or when asked), so `kds run` by hand shows what happens while systemd's copy stays clean.
 */
export function serviceLogger(opts: { logFile: string; format: 'text' | 'json'; toStderr: boolean; level?: LogLevel }): {
  logger: KdsLogger;
  reopen(): void;
  close(): void;
} {
  const format = opts.format === 'json' ? formatJson : formatText;
  const logger = new KdsLogger({ level: opts.level ?? 'info' });
  let file: FileSink | undefined;
  let fileError: string | undefined;
  try {
    file = new FileSink(opts.logFile, format, true);
    logger.addSink(file.write);
    const sink = file;
    // A fatal error's last lines are written on the way out ('exit' handlers run synchronously).
    process.on('exit', () => {
      try {
        sink.flush();
      } catch {
        // nothing left to tell it to
      }
    });
  } catch (err) {
    fileError = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
  if (opts.toStderr || !file) logger.addSink(streamSink(process.stderr, format));
  if (fileError) logger.warn('log-file', t('Cannot write the log file {0} ({1}); logging to standard error instead', opts.logFile, fileError));
  return {
    logger,
    reopen: () => {
      try {
        file?.reopen();
      } catch (err) {
        logger.warn('log-file', t('Cannot reopen the log file {0} ({1})', opts.logFile, (err as Error).message));
      }
    },
    close: () => file?.close(),
  };
}
