import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { writeRemoteText } from '../../centralNode/cnOps';
import * as vscode from 'vscode';
import { shareArgument } from '../shareArgument';
import { openWalkthrough } from '../walkthrough';
import { KdsLogger } from '../../common/log';
import { DemoPortDeclined, startDemo } from '../../demo/demoSetup';
import { EICAR } from '../../emulator/eicar';
import { KataClient } from '../../kata/client';
import { kataClientOptions, loadKataCredentials } from '../../engine/kataClientFromConfig';
import { collectTestScan, submitIntegrationRequest } from '../../kata/integrationRequest';
import { KataError } from '../../kata/errors';
import { fingerprint256 } from '../../pki/pemText';
import { CertificateFilesExist, writeClientCertificate } from '../../pki/clientCertificateFiles';
import { type KdsServices, requireConfig, requireTrust } from '../services';
import { registerCommand } from '../commandHost';
import { startScanning } from './scanningCommands';

const demoFolder = 'kds-demo';
const demoPort = 8443;

export function registerSetupCommands(s: KdsServices): void {
  registerCommand(s, 'kds.startEmbeddedKata', () => startEmbeddedKata(s));
  registerCommand(s, 'kds.generateClientCertificate', () => generateCertificate(s));
  registerCommand(s, 'kds.sendIntegrationRequest', () => sendIntegrationRequest(s));
  registerCommand(s, 'kds.openEmbeddedConsole', () => openConsole(s));
  registerCommand(s, 'kds.dropEicarSample', (arg?: unknown) => dropEicar(s, arg));
  registerCommand(s, 'kds.openWalkthrough', () => openWalkthrough(s.context.extension.id));
}

function workspaceRoot(): string {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!root) throw new Error(vscode.l10n.t('Open a folder first: KDS keeps its configuration and the demo set-up in the workspace.'));
  return root;
}

/** The embedded KATA (auto-approving) and a complete set-up in <workspace>/kds-demo, then scanning. */
async function startEmbeddedKata(s: KdsServices): Promise<void> {
  requireTrust();
  const root = workspaceRoot();
  if (!s.demo.current) {
    const channel = vscode.window.createOutputChannel(vscode.l10n.t('KDS Embedded KATA'), { log: true });
    s.context.subscriptions.push(channel);
    const logger = new KdsLogger({ sinks: [(r) => channel.appendLine(`${r.level} [${r.event}] ${r.msg}`)] });
    // An existing demo configuration keeps its kata_cn_port; when that port is taken, the person decides.
    const confirmPortChange = async (c: { configPath: string; configured: number; actual: number }) => {
      const use = vscode.l10n.t('Use Port {0}', c.actual);
      const answer = await vscode.window.showWarningMessage(
        vscode.l10n.t('Port {0} is in use. Start the embedded KATA on port {1} instead?', c.configured, c.actual),
        { modal: true, detail: vscode.l10n.t('kata_cn_port in {0} says {1}; KDS would change it to {2} and leave the rest of the file as it is.', relative(root, c.configPath), c.configured, c.actual) },
        use,
      );
      return answer === use;
    };
    let setup;
    try {
      setup = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Starting the embedded KATA…') }, () =>
        startDemo(join(root, demoFolder), { defaultPort: demoPort, logger, confirmPortChange }),
      );
    } catch (err) {
      if (err instanceof DemoPortDeclined) return;
      throw err;
    }
    s.demo.current = setup;
    s.context.subscriptions.push({ dispose: () => void setup.emulator.close() });
    s.log.info(vscode.l10n.t('Embedded KATA listening at {0}; console {1}', setup.emulator.url, setup.emulator.consoleUrl));
  }
  const setup = s.demo.current;
  const wanted = setup.configPath;
  if (s.engine.configPath() !== wanted) {
    let use = s.engine.status.kind !== 'ok';
    if (!use) {
      const yes = vscode.l10n.t('Use the Demo Set-up');
      use = (await vscode.window.showInformationMessage(vscode.l10n.t('Point kds.configPath at the demo set-up ({0})? The current configuration stays on disk.', relative(root, wanted)), yes)) === yes;
    }
    if (use) {
      if (s.engine.running) await s.engine.stop();
      await vscode.workspace.getConfiguration('kds').update('configPath', relative(root, wanted), vscode.ConfigurationTarget.Workspace);
    }
  }
  await s.engine.reload();
  if (s.engine.configPath() === wanted && !s.engine.running) await startScanning(s);
  // Short labels: a notification cuts longer ones ("Open KATA Con…").
  const openConsole = vscode.l10n.t('Console');
  const copyPassword = vscode.l10n.t('Copy Password');
  const eicar = vscode.l10n.t('Drop EICAR');
  const answer = await vscode.window.showInformationMessage(
    vscode.l10n.t('Embedded KATA is running at {0}. Console user: admin. Drop files into {1}.', setup.emulator.url, join(setup.dir, 'in')),
    openConsole,
    copyPassword,
    eicar,
  );
  if (answer === openConsole) await openConsoleUrl(setup.emulator.consoleUrl);
  if (answer === copyPassword) await vscode.env.clipboard.writeText(setup.emulator.adminPassword);
  if (answer === eicar) await dropEicar(s);
}

async function openConsole(s: KdsServices): Promise<void> {
  if (!s.demo.current) {
    void vscode.window.showInformationMessage(vscode.l10n.t('The embedded KATA is not running; start it with "KDS: Start Embedded KATA".'));
    return;
  }
  await vscode.env.clipboard.writeText(s.demo.current.emulator.adminPassword);
  void vscode.window.setStatusBarMessage(vscode.l10n.t('Console password for admin copied'), 5000);
  await openConsoleUrl(s.demo.current.emulator.consoleUrl);
}

async function openConsoleUrl(url: string): Promise<void> {
  await vscode.env.openExternal(vscode.Uri.parse(url));
}

async function dropEicar(s: KdsServices, arg?: unknown): Promise<void> {
  requireTrust();
  const name = `eicar-${new Date().toISOString().replace(/[:.]/g, '-')}.com`;
  // Central Node mode: the sample goes into the CN's input folder, where its service scans it.
  // Into the share of the item or share node it was invoked on, the only one, or one the user picks.
  const share = await shareArgument(s.active?.shares() ?? [], arg, vscode.l10n.t('Into the input folder of which share?'));
  if (s.active?.centralNode && s.centralNode) {
    if (!share) return;
    const conn = s.centralNode.require();
    const path = posix.join(share.in_dir, name);
    await writeRemoteText(conn.cn(), path, EICAR);
    void vscode.window.setStatusBarMessage(vscode.l10n.t('Wrote {0}', `${conn.label}:${path}`), 5000);
    return;
  }
  const config = requireConfig(s);
  const target = share ?? (config.shares.length === 1 ? config.shares[0] : undefined);
  if (!target) return;
  const inDir = target.in_dir;
  await mkdir(inDir, { recursive: true });
  await writeFile(join(inDir, name), EICAR);
  s.engine.requestRescan();
  void vscode.window.setStatusBarMessage(vscode.l10n.t('Wrote {0}', join(inDir, name)), 5000);
}

/** server.key, server.crt and cert.pem for KDS's side of the mTLS connection. */
async function generateCertificate(s: KdsServices): Promise<void> {
  requireTrust();
  const config = s.engine.config;
  const fallback = vscode.workspace.workspaceFolders?.[0] ? join(workspaceRoot(), 'kds-client') : undefined;
  const dir = await vscode.window.showInputBox({
    title: vscode.l10n.t('Generate Client Certificate'),
    prompt: vscode.l10n.t('Folder for server.key, server.crt and cert.pem'),
    value: config ? dirname(config.cert_pem) : fallback,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : vscode.l10n.t('Give a folder')),
  });
  if (!dir) return;
  const commonName = await vscode.window.showInputBox({
    title: vscode.l10n.t('Generate Client Certificate'),
    prompt: vscode.l10n.t('Common name of the certificate (shown to the KATA administrator)'),
    value: `kds-${hostname()}`,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : vscode.l10n.t('Give a name')),
  });
  if (!commonName) return;
  const write = (force: boolean) => writeClientCertificate(dir.trim(), { commonName: commonName.trim(), days: 825, force });
  let result;
  try {
    result = await write(false);
  } catch (err) {
    if (!(err instanceof CertificateFilesExist)) throw err;
    const replace = vscode.l10n.t('Replace');
    const answer = await vscode.window.showWarningMessage(
      vscode.l10n.t('A client certificate already exists in {0}.', dir),
      { modal: true, detail: vscode.l10n.t('KATA approves a certificate, not a host: after replacing it, the integration has to be requested and approved again.') },
      replace,
    );
    if (answer !== replace) return;
    result = await write(true);
  }
  const fp = fingerprint256(result.made.certPem);
  s.log.info(vscode.l10n.t('Client certificate written to {0}; SHA-256 fingerprint {1}', dir, fp));
  const copy = vscode.l10n.t('Copy Fingerprint');
  const send = vscode.l10n.t('Send Integration Request');
  const mismatch = config && config.cert_pem !== result.paths['cert.pem'] ? ' ' + vscode.l10n.t('Set cert_pem to {0} and cert_key to {1} in the configuration.', result.paths['cert.pem'], result.paths['server.key']) : '';
  const answer = await vscode.window.showInformationMessage(vscode.l10n.t('Client certificate created. SHA-256: {0}.', fp) + mismatch, copy, send);
  if (answer === copy) await vscode.env.clipboard.writeText(fp);
  if (answer === send) await vscode.commands.executeCommand('kds.sendIntegrationRequest');
}

/**
 * The original set-up's enrolment: one tiny scan request with a fresh scanId, sent with the
 * client certificate. 401 means the request is now pending in KATA; success means approved.
 */
async function sendIntegrationRequest(s: KdsServices): Promise<void> {
  requireTrust();
  await s.engine.reload();
  const config = requireConfig(s);
  const credentials = await loadKataCredentials(config);
  const where = `${config.kata_cn_addr}:${config.kata_cn_port}`;
  s.log.info(vscode.l10n.t('Sending the integration request to KATA at {0}: system_id {1}, certificate SHA-256 {2}', where, config.system_id, credentials.fingerprint256));
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Sending the integration request to KATA at {0}…', where) },
    async () => {
      const client = new KataClient(kataClientOptions(config, credentials, { requestTimeoutMs: 30_000 }));
      try {
        const { scanId } = await submitIntegrationRequest(client);
        await collectTestScan(client, scanId, { waitMs: 10_000, delayMs: 1_000 });
        return 'approved' as const;
      } catch (err) {
        if (err instanceof KataError && (err.kind === 'unauthorized' || err.kind === 'forbidden')) return err.kind;
        throw err;
      } finally {
        await client.close();
      }
    },
  );
  // The walkthrough ticks its integration and approval steps on what happened, not on the click.
  void vscode.commands.executeCommand('setContext', 'kds.integrationOutcome', outcome);
  const copy = vscode.l10n.t('Copy Fingerprint');
  let message: string;
  if (outcome === 'approved') {
    message = vscode.l10n.t('KATA has already approved this external system (system_id {0}).', config.system_id);
    s.log.info(message);
    const start = vscode.l10n.t('Start Scanning');
    if ((await vscode.window.showInformationMessage(message, start)) === start) await startScanning(s);
    return;
  }
  message =
    outcome === 'unauthorized'
      ? vscode.l10n.t('Integration request sent; it is pending. Ask the KATA administrator to accept system_id {0} with certificate SHA-256 {1} (External systems).', config.system_id, credentials.fingerprint256)
      : vscode.l10n.t('KATA rejected the integration of system_id {0} with certificate SHA-256 {1}. Ask the KATA administrator to accept it, or use a new system_id.', config.system_id, credentials.fingerprint256);
  s.log.warn(message);
  const buttons = s.demo.current ? [copy, vscode.l10n.t('Console')] : [copy];
  const answer = await vscode.window.showWarningMessage(message, ...buttons);
  if (answer === copy) await vscode.env.clipboard.writeText(credentials.fingerprint256);
  else if (answer && s.demo.current) await openConsole(s);
}
