import { t } from '../common/l10n';
import { createEngineFromConfig } from '../engine/engineFromConfig';
import { privateKeyFileProblems } from '../engine/kataClientFromConfig';
import { type AttachedEventStream, attachEventStream } from '../engine/engineEventStream';
import { preferSmallHeap, releaseBurstGarbage } from '../common/heapRelease';
import type { ServiceObservability } from '../observability/serviceObservability';
import { loadConfigForCommand } from './cliConfig';
import { type CliCommand, parseOptions } from './command';
import { ExitCode } from '../common/exitCode';
import { serviceLogger } from './serviceLogger';

export const command: CliCommand = {
  name: 'run',
  summary: 'Run the scanning service in the foreground (what kata-dir-scanner.service starts)',
  help: `Usage: kds run --config FILE [--log-stderr] [--debug]

Runs the directory-scanning service in the foreground until SIGTERM or Ctrl-C, which finish
the work in progress and stop cleanly. SIGHUP reopens the log file (for logrotate) and
re-reads the exclude list.

Options:
  --config FILE   kata_dir_scanner.conf to use (required)
  --log-stderr    also write the log to standard error (default when it is a terminal)
  --debug         log debug events too

Exit codes: 0 stopped cleanly, 1 could not start, 2 configuration error.`,
  async run(argv) {
    const { values } = parseOptions(argv, {
      config: { type: 'string' },
      'log-stderr': { type: 'boolean' },
      debug: { type: 'boolean' },
    });
    const loaded = await loadConfigForCommand(values.config);
    if (!loaded) return ExitCode.usage;
    const { config, warnings } = loaded;
    const toStderr = values['log-stderr'] === true || process.stderr.isTTY === true;
    const log = serviceLogger({
      logFile: config.log_file,
      format: config.log_format,
      toStderr,
      level: values.debug ? 'debug' : 'info',
    });
    const { logger } = log;
    for (const w of warnings) logger.warn('config', w);

    // Signals are handled from here on: a SIGTERM while the engine is still starting must stop it
    // cleanly once it is up, not kill the process half-way.
    let stopRequested: string | undefined;
    let onStop: ((signal: string) => void) | undefined;
    const requestStop = (signal: string) => {
      if (onStop) onStop(signal);
      else stopRequested ??= signal;
    };
    const term = () => requestStop('SIGTERM');
    const int = () => requestStop('SIGINT');
    let hup = () => log.reopen();
    const onHup = () => hup();
    process.on('SIGTERM', term);
    process.on('SIGINT', int);
    process.on('SIGHUP', onHup);
    const detach = () => {
      process.off('SIGHUP', onHup);
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
    };

    let built;
    // The event stream (<state_dir>/events.jsonl) that `kds remote` and the extension follow.
    let events: AttachedEventStream | undefined;
    // Metrics, health and SIEM events (metrics_listen, siem), when configured.
    let observability: ServiceObservability | undefined;
    const keyProblems = await privateKeyFileProblems(config);
    if (keyProblems.length) {
      for (const k of keyProblems) {
        const message = t('Refusing to start: {0}. Fix it with: {1}', k.problem, k.fix.join(' && '));
        logger.error('key-permissions', message, { file: k.file });
        // Also where systemctl status and a terminal show it, whatever the log settings.
        if (!toStderr) process.stderr.write(message + '\n');
      }
      detach();
      log.close();
      return ExitCode.usage;
    }
    try {
      // A service process of its own: it may tune V8 and ask for a full collection after a burst.
      built = await createEngineFromConfig(config, logger, { afterBurst: () => releaseBurstGarbage(), manyFiles: (many) => preferSmallHeap(many) });
      const engine = built.engine;
      // Loaded only when configured: prom-client and the HTTP server cost a start ~15 ms of CPU.
      if (config.metrics_listen || config.siem) {
        const { ServiceObservability } = await import('../observability/serviceObservability');
        observability = await ServiceObservability.start({ config, engine, client: built.client, logger, fingerprint256: built.fingerprint256 });
      }
      const watchers = observability;
      // The SIEM takes the events as the stream publishes them: detections with their threat names.
      events = attachEventStream(built, config, logger, watchers ? { also: (e) => watchers.published(e) } : {});
      await engine.start();
      events.started();
      setTimeout(() => releaseBurstGarbage(true), 0);
    } catch (err) {
      logger.error('start-failed', t('Cannot start: {0}', (err as Error).message));
      events?.abort();
      await observability?.close(0);
      await built?.close();
      detach();
      log.close();
      return (err as NodeJS.ErrnoException).code === 'KDS_LOCKED' ? ExitCode.failure : ExitCode.usage;
    }
    const { engine, excludes } = built;
    logger.info('identity', t('system_id {0}, client certificate SHA-256 {1}', config.system_id, built.fingerprint256));
    hup = () => {
      log.reopen();
      // Every share's exclude list.
      for (const list of excludes.values()) void list.reload();
      logger.info('reload', t('log file reopened and exclude list re-read (SIGHUP)'));
    };

    return new Promise<number>((resolve) => {
      let stopping = false;
      onStop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info('signal', t('{0} received; finishing work in progress', signal));
        void engine
          .stop()
          .then(() => events?.close())
          .then(() => built.close())
          .then(() => observability?.close())
          .finally(() => {
            detach();
            log.close();
            resolve(ExitCode.ok);
          });
      };
      if (stopRequested) onStop(stopRequested);
    });
  },
};
