import { existsSync, readFileSync } from 'node:fs';
import * as vscode from 'vscode';
import { type Answer, StepFailed, probeFacts, runSetupPlan } from '../../centralNode/remoteInstall';
import { type EngineKind, chooseEngine } from '../../centralNode/engineChoice';
import { findEnginePackage } from '../../centralNode/engineManifest';
import { megabytes } from '../../centralNode/engineUpload';
import { SetupInputError, prepareSetup, setupSummary } from '../../centralNode/setupInputs';
import { type FolderKey, type RemoteFacts, type ShareParams, cifsNamesOf, describeAction, layout, mountPoints, sharesNotInstalled } from '../../centralNode/setupPlan';
import { parseListenAddress } from '../../common/listenAddress';
import { ConfigError } from '../../engine/config';
import { type CommandHost, requireTrustForCentralNode } from '../commandHost';
import type { CnConnection } from './cnConnection';
import type { UserLevelConfig } from '../userLevelConfig';

/**
 * "KDS: Set Up Central Node": the same steps, questions and results as `kds remote setup`
 * (centralNode/setupInputs.ts builds the plan for both). Connects first — a CN without KDS is a
 * normal state —, asks where the scanned folders are, then shows each step with its exact
 * commands in a modal titled "Step n/N" before it runs, runs it under a progress notification,
 * and ends with a summary of what was done and what is left. Afterwards the views follow the CN.
 */
/** Commands shown in a step's modal; the rest are in the log. */
const maxModalLines = 8;

/** What set-up needs of the Central Node controller: its connection, to connect, and to reload the views. */
export interface SetupConnection {
  readonly connection: CnConnection | undefined;
  connect(): Promise<void>;
  reload(): Promise<void>;
  readonly userConfig: UserLevelConfig;
}

export async function setupCentralNode(s: CommandHost, rc: SetupConnection): Promise<void> {
  requireTrustForCentralNode();
  const localConfig = s.engine.configPath();
  if (!localConfig || !existsSync(localConfig)) {
    throw new ConfigError(vscode.l10n.t('Open a folder with kata_dir_scanner.conf (or set kds.configPath): its settings are installed on the Central Node.'), localConfig ?? 'kata_dir_scanner.conf');
  }
  if (!rc.connection) await rc.connect();
  const conn = rc.connection;
  if (!conn) return;
  const session = await conn.rs.whenConnected();
  const prefix = conn.settings.setupPrefix ?? (rc.userConfig.get<string>('kds.remote.setupPrefix')?.trim() || undefined);
  const l = layout(prefix, conn.settings.serviceName);
  const sudo = conn.needsSudo() ? conn.sudoOption() : undefined;
  const facts = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Looking at {0}…', conn.label) }, () => probeFacts(session, l, sudo));
  s.log.info(vscode.l10n.t('[setup] Central Node {0}: {1} {2}, Node.js {3}, {4}', conn.label, facts.os, facts.arch, facts.nodeVersion ?? '—', facts.isRoot ? 'root' : 'sudo'));

  // Several shares: a CN already set up may get only the shares it lacks, leaving the rest as it is.
  const local = localShares(localConfig);
  let addShares = false;
  const missing = facts.hasConfig ? sharesNotInstalled(facts.installedConfigText, local.listed) : [];
  if (missing.length) {
    const add = { label: '$(add) ' + vscode.l10n.t('Add shares {0}', missing.join(', ')), detail: vscode.l10n.t('Mount them, create their folders and exclude lists, add them to the configuration and restart the service; nothing else on the CN changes'), id: 'add' as const };
    const all = { label: '$(tools) ' + vscode.l10n.t('Set up the whole Central Node'), detail: vscode.l10n.t('Every step; the installed configuration is kept'), id: 'all' as const };
    const how = await vscode.window.showQuickPick([add, all], { title: vscode.l10n.t('Set Up Central Node: {0} already has KDS', conn.label), ignoreFocusOut: true });
    if (!how) return;
    addShares = how.id === 'add';
  }
  const where = await askFolders(l.folders, facts, addShares ? { topLevel: false, listed: missing } : local);
  if (!where) return;
  const engine = await askEngine(s.context.extensionPath, facts, !!prefix, l.installDir, conn.label);
  if (!engine) return;
  // Adding shares leaves the installed configuration's other keys (metrics_listen among them) as they are.
  const metricsListen = addShares ? undefined : await askMetrics(localConfig);
  if (!addShares && metricsListen === undefined) return;

  let prepared;
  try {
    prepared = await prepareSetup({
      configPath: localConfig,
      ...(prefix && { prefix }),
      unitName: conn.settings.serviceName,
      host: conn.settings.host,
      facts,
      // The engine uploaded to the CN ships in the .vsix: dist/kds.js + dist/kds-run.js + bin/kds.js, l10n/, schemas/,
      // and the Debian package with the single executable (dist/engine/).
      engineRoot: s.context.extensionPath,
      engine,
      ...where,
      ...(metricsListen !== undefined && { metricsListen }),
      ...(addShares && { addShares: true }),
    });
  } catch (err) {
    if (err instanceof SetupInputError && err.kind === 'input') throw new ConfigError(err.message, localConfig);
    throw err;
  }
  s.log.show(true);
  const useSudo = conn.needsSudo() && !prefix;
  let report: ((message: string, increment?: number) => void) | undefined;
  let shownPercent = 0;
  let outcome;
  try {
    outcome = await runSetupPlan(
      session,
      prepared.steps,
      {
        print: (line) => s.log.info(`[setup] ${line}`),
        confirm: async (step, i, n): Promise<Answer> => {
          const run = vscode.l10n.t('Run This Step');
          const skip = vscode.l10n.t('Skip');
          // The modal must fit the window (its buttons below the text): a long step shows its first
          // commands and points at the KDS log, where runSetupPlan has just printed all of them.
          const lines = step.actions.map((a) => describeAction(a, !!prefix, useSudo));
          const shown = lines.length > maxModalLines ? [...lines.slice(0, maxModalLines - 1), vscode.l10n.t('… and {0} more (every command is in the KDS log above)', lines.length - maxModalLines + 1)] : lines;
          const detail = [...step.notes, '', ...shown].join('\n');
          const answer = await vscode.window.showWarningMessage(vscode.l10n.t('Step {0}/{1} on {2}: {3}', i, n, conn.label, step.title), { modal: true, detail }, run, skip);
          return answer === run ? 'yes' : answer === skip ? 'skip' : 'quit';
        },
        running: async (step, i, n, work) =>
          await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Step {0}/{1}: {2}', i, n, step.title) }, async (progress) => {
            progress.report({ message: step.id === 'engine' && !addShares ? vscode.l10n.t('uploading the engine to {0}…', conn.label) : vscode.l10n.t('on {0}…', conn.label) });
            report = (message, increment) => progress.report({ message, ...(increment !== undefined && { increment }) });
            shownPercent = 0;
            try {
              return await work();
            } finally {
              report = undefined;
            }
          }),
        uploading: (done, total) => {
          const percent = Math.floor((done / total) * 100);
          if (percent === shownPercent && done < total) return;
          report?.(vscode.l10n.t('uploading the engine to {0}: {1}% ({2} of {3})', conn.label, percent, megabytes(done), megabytes(total)), percent - shownPercent);
          shownPercent = percent;
        },
      },
      { prefixMode: !!prefix, isRoot: conn.isRoot, ...(sudo && { sudo }), yes: false, upgrade: !!facts.installedEngineSha256 },
    );
  } catch (err) {
    const where = err instanceof StepFailed ? `${err.step.title}: ` : '';
    throw new Error(vscode.l10n.t('Set-up of {0} stopped: {1}{2}', conn.label, where, (err as Error).message));
  } finally {
    await prepared.dispose();
  }

  const summary = setupSummary(outcome.outcomes, prepared);
  s.log.info(vscode.l10n.t('[setup] Summary for {0}:', conn.label));
  for (const line of [...summary.done, ...summary.left]) s.log.info(`[setup]   ${line}`);
  // The views follow the CN now that it has a configuration (or still say it has none).
  await rc.reload();
  const copy = vscode.l10n.t('Copy Fingerprint');
  const close: vscode.MessageItem = { title: vscode.l10n.t('Close'), isCloseAffordance: true };
  const items: vscode.MessageItem[] = prepared.certificate ? [{ title: copy }, close] : [close];
  const detail = [vscode.l10n.t('Done:'), ...summary.done.map((x) => `• ${x}`), ...(summary.left.length ? ['', vscode.l10n.t('Left to do:'), ...summary.left.map((x) => `• ${x}`)] : [])].join('\n');
  const answer = await vscode.window.showInformationMessage(vscode.l10n.t('Set-up of {0} finished.', conn.label), { modal: true, detail }, ...items);
  if (answer?.title === copy && prepared.certificate) await vscode.env.clipboard.writeText(prepared.certificate.fingerprint256);
}

/** Whether the local configuration has the top-level folders (share default) and the names of its listed shares. */
function localShares(configPath: string): { topLevel: boolean; listed: string[] } {
  try {
    const raw = JSON.parse(readFileSync(configPath, 'utf8').replace(/^\uFEFF/, '')) as { in_dir?: unknown; shares?: unknown };
    const listed = Array.isArray(raw.shares) ? raw.shares.map((e) => (e as { name?: unknown } | null)?.name).filter((n): n is string => typeof n === 'string') : [];
    return { topLevel: 'in_dir' in raw || listed.length === 0, listed };
  } catch {
    return { topLevel: true, listed: [] }; // prepareSetup reports what is wrong with the file
  }
}

/**
 * Where the CN's service serves Prometheus metrics and health (metrics_listen), as `kds remote
 * setup` asks it: the local configuration's value is offered; empty turns the endpoint off.
 * Undefined when cancelled.
 */
async function askMetrics(localConfig: string): Promise<string | undefined> {
  let current = '';
  try {
    const raw = JSON.parse(readFileSync(localConfig, 'utf8').replace(/^\uFEFF/, '')) as { metrics_listen?: unknown };
    if (typeof raw.metrics_listen === 'string') current = raw.metrics_listen;
  } catch {
    // prepareSetup reports a configuration it cannot read
  }
  return vscode.window.showInputBox({
    title: vscode.l10n.t('Set Up Central Node: metrics'),
    prompt: vscode.l10n.t('Serve Prometheus metrics and health (/metrics, /healthz, /readyz) from the CN\'s service at: a port (127.0.0.1 only), ADDRESS:PORT or a Unix socket path. Empty: none.'),
    placeHolder: '127.0.0.1:9464',
    value: current,
    ignoreFocusOut: true,
    validateInput: (x) => {
      if (x.trim() === '') return undefined;
      const parsed = parseListenAddress(x);
      return 'problem' in parsed ? parsed.problem : undefined;
    },
  });
}

/**
 * How the engine is installed, asked only when more than one way fits the CN: the single
 * executable (no Node.js needed), the Debian package (apt-get; for administrators who keep
 * everything in packages), or the bundled JavaScript run by the CN's own Node.js. The first
 * item is what `kds remote setup --engine auto` would pick. Undefined when cancelled.
 */
async function askEngine(extensionPath: string, facts: RemoteFacts, prefix: boolean, installDir: string, label: string): Promise<EngineKind | 'auto' | undefined> {
  const pkg = await findEnginePackage(extensionPath).catch(() => undefined);
  const available = { ...(pkg && { package: pkg.manifest }), js: true };
  const o = { prefix, installDir };
  const auto = chooseEngine(facts, available, 'auto', o).kind;
  const fits = (['sea', 'deb', 'js'] as const).filter((k) => chooseEngine(facts, available, k, o).kind === k);
  if (fits.length < 2 || !auto) return 'auto';
  const size = pkg ? megabytes(pkg.manifest.package.size) : '';
  const items: Record<(typeof fits)[number], vscode.QuickPickItem & { engine: EngineKind }> = {
    sea: { engine: 'sea', label: '$(file-binary) ' + vscode.l10n.t('Single executable in {0}', installDir), detail: vscode.l10n.t('Node.js inside, nothing else needed on the CN; uploads {0}', size) },
    deb: { engine: 'deb', label: '$(package) ' + vscode.l10n.t('Debian package {0}', pkg?.manifest.package.file ?? ''), detail: vscode.l10n.t('installed with apt-get, removed with apt-get remove; uploads {0}', size) },
    js: { engine: 'js', label: '$(symbol-namespace) ' + vscode.l10n.t('Bundled JavaScript run by the CN\'s Node.js {0}', facts.nodeVersion?.trim() ?? ''), detail: vscode.l10n.t('small upload; the service depends on the CN\'s Node.js') },
  };
  const ordered = [auto, ...fits.filter((k) => k !== auto)].map((k) => items[k as (typeof fits)[number]]);
  const picked = await vscode.window.showQuickPick(ordered, { title: vscode.l10n.t('Set Up Central Node: how to install the engine on {0}', label), ignoreFocusOut: true });
  return picked?.engine;
}

/**
 * Where the scanned folders are: CIFS shares mounted by the set-up, folders on the CN (created
 * when missing), or as they are (mounted by hand earlier). Listed shares are mounted on
 * /mnt/<name>/… (their CIFS share names asked, one question per share). Undefined when cancelled.
 */
async function askFolders(
  defaults: Record<FolderKey, string>,
  facts: RemoteFacts,
  shares: { topLevel: boolean; listed: string[] },
): Promise<{ shares?: ShareParams; shareCifsNames?: Record<string, Record<FolderKey, string>>; folders?: Record<FolderKey, string> } | undefined> {
  const mount = { label: '$(server) ' + vscode.l10n.t('Mount the CIFS shares'), detail: vscode.l10n.t('//server/in, out and qrnt on {0}, {1}, {2}, with a credentials file readable by root only', mountPoints.in, mountPoints.out, mountPoints.qrnt), id: 'mount' as const };
  const folders = { label: '$(folder) ' + vscode.l10n.t('Use folders on the Central Node'), detail: vscode.l10n.t('You pick them; they are created when missing'), id: 'folders' as const };
  const keep = { label: '$(check) ' + vscode.l10n.t('The folders are already in place'), detail: vscode.l10n.t('{0}, {1}, {2} are mounted already; this step is left out', defaults.in, defaults.out, defaults.qrnt), id: 'keep' as const };
  const picked = await vscode.window.showQuickPick([folders, mount, keep], {
    title: vscode.l10n.t('Set Up Central Node: the folders KDS scans'),
    placeHolder: facts.hasMountCifs ? vscode.l10n.t('Where are the input, output and quarantine folders?') : vscode.l10n.t('Where are the input, output and quarantine folders? (mount.cifs is not installed on the CN)'),
    ignoreFocusOut: true,
  });
  if (!picked) return undefined;
  if (picked.id === 'keep') return {};
  if (picked.id === 'folders' && !shares.topLevel) return { folders: defaults }; // only /mnt/<name>/… of the listed shares
  if (picked.id === 'folders') {
    const out: Partial<Record<FolderKey, string>> = {};
    const names: Record<FolderKey, string> = { in: vscode.l10n.t('input'), out: vscode.l10n.t('output'), qrnt: vscode.l10n.t('quarantine') };
    for (const k of ['in', 'out', 'qrnt'] as const) {
      const v = await vscode.window.showInputBox({
        title: vscode.l10n.t('Set Up Central Node: the {0} folder', names[k]),
        prompt: vscode.l10n.t('An absolute folder on the Central Node; created when missing'),
        value: defaults[k],
        ignoreFocusOut: true,
        validateInput: (x) => (x.trim().startsWith('/') && !/[\0\n]/.test(x) ? undefined : vscode.l10n.t('Write an absolute path, e.g. {0}', defaults[k])),
      });
      if (v === undefined) return undefined;
      out[k] = v.trim();
    }
    return { folders: out as Record<FolderKey, string> };
  }
  const ask = (title: string, value = '', password = false, optional = false) =>
    vscode.window.showInputBox({ title: vscode.l10n.t('Set Up Central Node: shares'), prompt: title, value, password, ignoreFocusOut: true, ...(!optional && { validateInput: (x: string) => (x.trim() ? undefined : vscode.l10n.t('This is needed')) }) });
  const host = await ask(vscode.l10n.t('File server of the shares (host name or IP address)'));
  if (host === undefined) return undefined;
  const shareNames = shares.topLevel ? await ask(vscode.l10n.t('Share names for input, output and quarantine, separated by commas'), 'in,out,qrnt') : 'in,out,qrnt';
  if (shareNames === undefined) return undefined;
  const [inName, outName, qrntName] = shareNames.split(',').map((x) => x.trim());
  const shareCifsNames: Record<string, Record<FolderKey, string>> = {};
  for (const name of shares.listed) {
    const d = cifsNamesOf(name);
    const v = await ask(vscode.l10n.t('Share {0}: CIFS share names for input, output and quarantine, separated by commas (mounted on /mnt/{0}/in, out, qrnt)', name), `${d.in},${d.out},${d.qrnt}`);
    if (v === undefined) return undefined;
    const [i, o, q] = v.split(',').map((x) => x.trim());
    shareCifsNames[name] = { in: i || d.in, out: o || d.out, qrnt: q || d.qrnt };
  }
  const user = await ask(vscode.l10n.t('User name on the file server'));
  if (user === undefined) return undefined;
  const password = await ask(vscode.l10n.t('Password of {0} on the file server (stored on the CN in a file readable by root only)', user), '', true);
  if (password === undefined) return undefined;
  const domain = await ask(vscode.l10n.t('Domain (optional)'), '', false, true);
  if (domain === undefined) return undefined;
  return {
    shareCifsNames,
    shares: {
      host: host.trim(),
      names: { in: inName || 'in', out: outName || 'out', qrnt: qrntName || 'qrnt' },
      user: user.trim(),
      password,
      ...(domain.trim() && { domain: domain.trim() }),
    },
  };
}
