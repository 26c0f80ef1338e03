import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { t } from '../common/l10n';
import { EICAR } from '../emulator/eicar';
import { startDemo } from '../demo/demoSetup';
import { loadConfig } from '../engine/config';
import { createEngineFromConfig } from '../engine/engineFromConfig';
import { attachEventStream } from '../engine/engineEventStream';
import { type CliCommand, parseOptions } from './command';
import { ExitCode } from '../common/exitCode';
import { serviceLogger } from './serviceLogger';

export const command: CliCommand = {
  name: 'demo',
  summary: 'Run KDS end to end on this machine with the embedded KATA (what npm start does)',
  help: `Usage: kds demo [--dir DIR] [--port N]
       kds demo --eicar [--dir DIR]
       kds demo --clean [--dir DIR]

Sets up DIR (default ./kds-demo) with in/, out/ and qrnt/ folders, a client certificate,
an exclude list and a kata_dir_scanner.conf that trusts the embedded KATA's CA; starts the
embedded KATA (auto-approving) and the scanning service, and prints where to drop files.
Ctrl-C stops both. Running it again reuses DIR, its certificate and its approvals.

Options:
  --dir DIR   the demo folder (default ./kds-demo)
  --port N    port of the embedded KATA (default: kata_cn_port of an existing DIR/kata_dir_scanner.conf,
              else 8443; another free one if taken, and then kata_cn_port is changed to it)
  --eicar     only write the EICAR anti-virus test file into DIR/in and exit
  --clean     only write a harmless text file into DIR/in and exit

Exit codes: 0 stopped cleanly, 1 failure, 2 usage error.`,
  async run(argv) {
    const { values } = parseOptions(argv, {
      dir: { type: 'string' },
      port: { type: 'string' },
      eicar: { type: 'boolean' },
      clean: { type: 'boolean' },
    });
    const dir = resolve(values.dir ?? 'kds-demo');
    const inDir = join(dir, 'in');
    if (values.eicar || values.clean) {
      await mkdir(inDir, { recursive: true });
      const name = values.eicar ? `eicar-${stamp()}.com` : `clean-${stamp()}.txt`;
      const body = values.eicar ? EICAR : t('A harmless text file written by kds demo at {0}.', new Date().toISOString()) + '\n';
      await writeFile(join(inDir, name), body);
      process.stdout.write(t('Wrote {0}', join(inDir, name)) + '\n');
      return ExitCode.ok;
    }
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
      process.stderr.write(t('--port must be a number from 0 to 65535') + '\n');
      return ExitCode.usage;
    }
    return runDemo(dir, port);
  },
};

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

async function runDemo(dir: string, port: number | undefined): Promise<number> {
  await mkdir(dir, { recursive: true });
  const emulatorLog = serviceLogger({ logFile: join(dir, 'kata-emulator.log'), format: 'text', toStderr: false });
  const { configPath, emulator } = await startDemo(dir, {
    ...(port !== undefined && { port }),
    defaultPort: 8443,
    logger: emulatorLog.logger,
    onPortChanged: (c) => process.stdout.write(t('Port {0} (kata_cn_port in {1}) is in use: the embedded KATA listens on {2}, and kata_cn_port now says so.', c.configured, c.configPath, c.actual) + '\n'),
  });
  const { config } = await loadConfig(configPath);
  const log = serviceLogger({ logFile: config.log_file, format: 'text', toStderr: true });
  const built = await createEngineFromConfig(config, log.logger);
  // Written like `kds run`'s: a VS Code window on this folder shows what this process does.
  const events = attachEventStream(built, config, log.logger);
  try {
    await built.engine.start();
  } catch (err) {
    events.abort();
    await built.close();
    await emulator.close();
    log.close();
    emulatorLog.close();
    throw err;
  }
  events.started();

  const rel = (p: string) => relative(process.cwd(), p) || '.';
  process.stdout.write(
    [
      '',
      t('KDS is running end to end on this machine.'),
      t('  Embedded KATA:   {0}  (CA certificate: {1})', emulator.url, rel(emulator.caPemPath)),
      t('  KATA console:    {0}  user admin, password in {1}', emulator.consoleUrl, rel(join(dir, 'kata', 'admin-password'))),
      ...(emulator.icap
        ? [
            t('  ICAP server:     {0}  ({1} mode; point a proxy at {2})', emulator.icap.url, emulator.icap.mode(), emulator.icap.respmodUrl),
            t('  ICAP log:        {0}', rel(emulator.icap.logPath)),
            t('  ICAP mode:       switch it with: npx kds emulate mode monitoring|blocking_simple|blocking_advanced --data {0}', rel(emulator.dataDir)),
          ]
        : []),
      t('  Configuration:   {0}', rel(configPath)),
      '',
      t('Drop files into {0}: clean ones move to {1}, detections to {2}.', rel(join(dir, 'in')), rel(join(dir, 'out')), rel(join(dir, 'qrnt'))),
      t('Try: npx kds demo --eicar   (writes the EICAR test file into input)'),
      ...(emulator.icap ? [t('     npx kds icap probe {0} --eicar   (the ICAP server blocks EICAR)', emulator.icap.respmodUrl)] : []),
      t('     npx kds demo --clean   (writes a harmless text file)'),
      t('Press Ctrl-C to stop.'),
      '',
    ].join('\n') + '\n',
  );

  return new Promise<number>((resolvePromise) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(t('Stopping…') + '\n');
      void (async () => {
        await built.engine.stop();
        await events.close();
        await built.close();
        await emulator.close();
        log.close();
        emulatorLog.close();
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolvePromise(ExitCode.ok);
      })();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
