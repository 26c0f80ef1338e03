import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { t } from '../common/l10n';
import { packageRoot } from '../common/packageRoot';
import { writeClientCertificate } from '../pki/clientCertificateFiles';
import { type EngineKind, chooseEngine } from './engineChoice';
import { findEnginePackage } from './engineManifest';
import { localEngineFiles, type StepOutcome } from './remoteInstall';
import { buildAddSharesPlan, withAddedShares } from './addSharesPlan';
import { type EngineFiles, type FolderKey, type RemoteFacts, type SetupStep, type ShareParams, buildSetupPlan, cnShares, configForCn, layout } from './setupPlan';

/**
 * The one orchestration behind `kds remote setup` and "KDS: Set Up Central Node": from the
 * local configuration, its kata_ca and exclude list, the facts probed on the CN and the
 * administrator's answers, the plan's inputs — including a client certificate made in a private
 * temporary folder when the CN has none — and the plan. The CLI and the extension differ only in
 * how they ask and show.
 */

export interface SetupRequest {
  /** The local kata_dir_scanner.conf; kata_ca and exclude_list are resolved beside it. */
  configPath: string;
  prefix?: string;
  unitName: string;
  /** The CN's host name, for the certificate's common name. */
  host: string;
  facts: RemoteFacts;
  engine?: EngineKind | 'auto';
  /** Where dist/ and bin/ of the engine to upload are (the package, or the extension's folder). */
  engineRoot?: string;
  /**
   * Builds the engine package when it is needed and missing (a checkout: npm run package:deb);
   * the extension has none to offer, its .vsix carries the package.
   */
  buildPackage?: () => Promise<void>;
  shares?: ShareParams;
  /** CIFS share names of listed shares, by share name (default <name>-in, <name>-out, <name>-qrnt). */
  shareCifsNames?: Record<string, Record<FolderKey, string>>;
  folders?: Record<FolderKey, string>;
  /** Add the configuration's shares the CN's installed configuration lacks, and change nothing else. */
  addShares?: boolean;
  replaceConfig?: boolean;
  newCertificate?: boolean;
  /** Where the CN's service serves metrics (metrics_listen); '' for none; undefined keeps the local configuration's. */
  metricsListen?: string;
  systemId?: () => string;
  now?: Date;
}

export interface PreparedSetup {
  steps: SetupStep[];
  systemId: string;
  /** Why this engine (single executable or bundled JavaScript). */
  engineReason: string;
  /** The certificate made for the CN now, if one was. */
  certificate?: { fingerprint256: string };
  /** With addShares: the shares added, and the service that must serve them. */
  added?: string[];
  unitName?: string;
  /** Removes the temporary folder of the certificate; call when the plan ran (or was abandoned). */
  dispose(): Promise<void>;
}

/** A local input is missing or wrong, or no engine fits (nothing was changed on the CN). */
export class SetupInputError extends Error {
  constructor(
    message: string,
    readonly kind: 'input' | 'engine' = 'input',
  ) {
    super(message);
  }
}

/** Text as the engine reads it: a UTF-8 byte order mark is not part of the content. */
async function readText(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).replace(/^\uFEFF/, '');
}

export async function prepareSetup(r: SetupRequest): Promise<PreparedSetup> {
  let configText: string;
  try {
    configText = await readText(r.configPath);
  } catch (err) {
    throw new SetupInputError(t('Cannot read {0}: {1}', r.configPath, (err as Error).message));
  }
  const base = dirname(resolve(r.configPath));
  const root = r.engineRoot ?? packageRoot();
  const wanted = r.engine ?? 'auto';
  const installDir = layout(r.prefix, r.unitName).installDir;
  let pkg = await findEnginePackage(root).catch(() => undefined);
  let choice = chooseEngine(r.facts, { ...(pkg && { package: pkg.manifest }), js: true }, wanted, { prefix: !!r.prefix, installDir });
  // Only the package is missing (a checkout where it was not built yet): build it, then decide again.
  if (!pkg && r.buildPackage && (wanted === 'sea' || wanted === 'deb' || (wanted === 'auto' && !choice.kind))) {
    await r.buildPackage();
    pkg = await findEnginePackage(root).catch(() => undefined);
    choice = chooseEngine(r.facts, { ...(pkg && { package: pkg.manifest }), js: true }, wanted, { prefix: !!r.prefix, installDir });
  }
  if (!choice.kind) throw new SetupInputError(t('No engine fits the Central Node, so nothing was changed there: {0}.', choice.reason), 'engine');
  const engine = await localEngineFiles(choice.kind, root);
  if (!engine) throw new SetupInputError(t('The engine is not built: run npm run build (and npm run package:deb for the single executable).'), 'engine');

  const l = layout(r.prefix, r.unitName);
  let cn: { text: string; systemId: string; hadKataCa?: string; added?: string[] };
  try {
    if (r.addShares) {
      if (!r.facts.hasConfig) throw new Error(t('KDS is not set up on the CN (no {0}): run the set-up without --add-shares first', l.config));
      if (r.facts.installedConfigText === undefined) throw new Error(t('the installed configuration {0} could not be read', l.config));
      cn = withAddedShares(configText, r.facts.installedConfigText, l);
    } else cn = configForCn(configText, l, r.systemId ?? (() => randomUUID()), r.folders, r.metricsListen);
  } catch (err) {
    throw new SetupInputError(t('{0}: {1}', r.configPath, (err as Error).message));
  }
  let kataCaText: string | undefined;
  if (cn.hadKataCa && !r.addShares) {
    try {
      kataCaText = await readText(resolve(base, cn.hadKataCa));
    } catch (err) {
      throw new SetupInputError(t('Cannot read {0}: {1}', resolve(base, cn.hadKataCa), (err as Error).message));
    }
  }
  // The local exclude list (exclude_list, default exclude_list.txt beside the configuration); none is an empty list.
  let excludeText: string | undefined;
  try {
    const raw = JSON.parse(configText) as { exclude_list?: unknown };
    const name = typeof raw.exclude_list === 'string' && raw.exclude_list.trim() ? raw.exclude_list : 'exclude_list.txt';
    excludeText = await readText(resolve(base, name));
  } catch {
    excludeText = undefined;
  }

  // Each listed share's exclude list (its exclude_list, default exclude_list.<name>.txt beside the configuration); none is an empty list.
  const shareExcludeTexts: Record<string, string> = {};
  for (const entry of sharesOf(configText)) {
    if (typeof entry.name !== 'string' || !cnShares(cn.text).listed.includes(entry.name)) continue;
    const name = typeof entry.exclude_list === 'string' && entry.exclude_list.trim() ? entry.exclude_list : `exclude_list.${entry.name}.txt`;
    const text = await readText(resolve(base, name)).catch(() => undefined);
    if (text !== undefined) shareExcludeTexts[entry.name] = text;
  }

  if (r.addShares) {
    const steps = buildAddSharesPlan({
      ...planCommon(r, configText, engine, cn.text),
      shareExcludeTexts,
      added: cn.added!,
    });
    return { steps, systemId: cn.systemId, engineReason: choice.reason, added: cn.added!, unitName: r.unitName, dispose: async () => undefined };
  }

  let certDir: string | undefined;
  const dispose = async () => {
    if (certDir) await rm(certDir, { recursive: true, force: true });
    certDir = undefined;
  };
  try {
    let certificate;
    if (!r.facts.hasCertificate || r.newCertificate) {
      certDir = await mkdtemp(join(tmpdir(), 'kds-remote-cert-'));
      const made = await writeClientCertificate(certDir, { commonName: `kds-${r.host}`, days: 365, force: true });
      const files = {
        'server.key': await readFile(made.paths['server.key'], 'utf8'),
        'server.crt': await readFile(made.paths['server.crt'], 'utf8'),
        'cert.pem': await readFile(made.paths['cert.pem'], 'utf8'),
      };
      certificate = { files, fingerprint256: made.made.fingerprint256 };
    }
    const steps = buildSetupPlan({
      ...planCommon(r, configText, engine, cn.text),
      ...(excludeText !== undefined && { excludeText }),
      shareExcludeTexts,
      ...(r.replaceConfig && { replaceConfig: true }),
      ...(r.newCertificate && { newCertificate: true }),
      ...(r.metricsListen && { metricsListen: r.metricsListen }),
      ...(certificate && { certificate }),
      ...(kataCaText !== undefined && { kataCaText }),
    });
    // A kept configuration (no --replace-config) keeps the system_id KATA already knows.
    const keptSystemId = r.facts.hasConfig && !r.replaceConfig ? r.facts.installedSystemId : undefined;
    return { steps, systemId: keptSystemId ?? cn.systemId, engineReason: choice.reason, ...(certificate && { certificate: { fingerprint256: certificate.fingerprint256 } }), dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** What the full set-up and the adding of shares both plan from. */
function planCommon(r: SetupRequest, configText: string, engine: EngineFiles, cnConfigText: string) {
  return {
    ...(r.prefix && { prefix: r.prefix }),
    ...(r.shares && { shares: r.shares }),
    ...(r.shareCifsNames && { shareCifsNames: r.shareCifsNames }),
    ...(r.folders && { folders: r.folders }),
    unitName: r.unitName,
    configText,
    configName: r.configPath,
    engine,
    facts: r.facts,
    cnConfigText,
    ...(r.now && { now: r.now }),
  };
}

/** The entries of a configuration's `shares` that are objects. */
function sharesOf(configText: string): Array<Record<string, unknown>> {
  const raw = JSON.parse(configText) as { shares?: unknown };
  return Array.isArray(raw.shares) ? raw.shares.filter((e): e is Record<string, unknown> => e !== null && typeof e === 'object' && !Array.isArray(e)) : [];
}

/** The certificate fingerprint (AA:BB:… of 32 bytes) `kds enroll` printed, whatever its language. */
function fingerprintIn(text: string): string | undefined {
  return /\b(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\b/.exec(text)?.[0];
}

/**
 * What the set-up did and what is left, one line each, for the CLI's last lines and the
 * extension's summary: every step's outcome, then what the administrator still has to do.
 */
export function setupSummary(outcomes: StepOutcome[], s: { systemId: string; certificate?: { fingerprint256: string }; added?: string[]; unitName?: string }): { done: string[]; left: string[] } {
  const done: string[] = [];
  const left: string[] = [];
  for (const o of outcomes) {
    if (o.outcome === 'done') done.push(t('done: {0}', o.title));
    else if (o.outcome === 'skipped') done.push(t('skipped ({0}): {1}', o.reason ?? '', o.title));
    else if (o.outcome === 'declined') left.push(t('not run (you skipped it): {0}', o.title));
    else if (o.outcome === 'blocked') left.push(t('cannot run yet: {0} — {1}', o.title, o.reason ?? ''));
    else left.push(t('not run: {0}', o.title));
    if (o.id === 'unit' && o.outcome === 'skipped') left.push(t('start the engine on the CN yourself: there is no systemd to run the service'));
  }
  if (s.added) {
    // Added shares are scanned under the integration the CN already has: nothing to approve.
    const unit = outcomes.find((o) => o.id === 'unit');
    if (unit?.outcome === 'done') done.push(t('The service now serves shares {0} as well, under the same integration (system_id {1}): KATA needs no new approval.', s.added.join(', '), s.systemId));
    else left.push(t('restart the service so that it serves shares {0} (systemctl restart {2}); they use the same integration (system_id {1}), KATA needs no new approval', s.added.join(', '), s.systemId, `${s.unitName ?? 'kata-dir-scanner'}.service`));
    return { done, left };
  }
  const enroll = outcomes.find((o) => o.id === 'enroll');
  const fingerprint = s.certificate?.fingerprint256 ?? fingerprintIn(enroll?.last?.output ?? '');
  if (enroll?.outcome === 'done' && enroll.last?.code === 0) {
    // `kds enroll` exits 0 only when KATA accepted its test scan: the integration is approved.
    done.push(
      fingerprint
        ? t('KATA has approved this external system (system_id {0}, certificate SHA-256 {1}): its test scan was accepted, so scanning works.', s.systemId, fingerprint)
        : t('KATA has approved this external system (system_id {0}): its test scan was accepted, so scanning works.', s.systemId),
    );
  } else if (enroll?.outcome === 'done' && enroll.last?.code === 3 && /\b403\b/.test(enroll.last.output)) {
    left.push(t('KATA rejected the integration of system_id {0} (HTTP 403): accept it in the KATA web console (External systems), or set up again with a new system_id. Certificate SHA-256 to compare: {1}', s.systemId, fingerprint ?? t('the one kds enroll printed')));
  } else if (enroll?.outcome === 'done' && enroll.last?.code === 3) {
    left.push(t('Waiting for approval: in the KATA web console (External systems), accept the request of system_id {0} after checking that its certificate SHA-256 is {1}.', s.systemId, fingerprint ?? t('the one kds enroll printed')));
  } else if (enroll?.outcome === 'done') {
    // An engine older than this summary: whether KATA approved is not known here.
    left.push(t('approve the integration in the KATA web console (External systems) if it is not approved yet: system_id {0}, certificate SHA-256 {1}', s.systemId, fingerprint ?? t('of the certificate already on the CN')));
  } else {
    left.push(t('send the integration request (kds enroll --config … on the CN) and have it approved in the KATA web console (External systems): system_id {0}, certificate SHA-256 {1}', s.systemId, fingerprint ?? t('of the certificate already on the CN')));
  }
  return { done, left };
}
