import { readFile } from 'node:fs/promises';
import { t } from '../common/l10n';
import { type Logger, withFields } from '../common/log';
import { fingerprint256, splitPem } from '../pki/pemText';
import type { KdsConfig } from './config';
import { ExcludeListWatcher } from './excludes';
import type { KataClient } from '../kata/client';
import { createKataClient } from './kataClientFromConfig';
import { hostPlatform } from '../common/platform';
import { isLocalFsType } from './folderFs';
import { type MountEntry, MountPointGuard, hasStableFileIds, isNetworkFs, isSmbFs, mountOf, shouldPoll } from './mounts';
import type { ScannerApi } from '../kata/scannerApi';
import type { EngineOptions, ExcludeSource, ShareOptions } from './engineOptions';
import { ScannerEngine } from './scanner';

export interface ConfiguredEngine {
  engine: ScannerEngine;
  client: KataClient;
  /** Each share's exclude list, by share name (SIGHUP re-reads them all). */
  excludes: ReadonlyMap<string, ExcludeListWatcher>;
  /** SHA-256 of the client certificate: what the KATA administrator must see before approving. */
  fingerprint256: string;
  /** Releases the client's connections; call after engine.stop(). */
  close(): Promise<void>;
}

/**
 * Builds the engine the way `kds run`, `npm start` and the VS Code extension all run it, so the
 * three hosts cannot drift apart: every share of the configuration, one KATA client for all.
 * `overrides` exist for tests (fast retries).
 */
export async function createEngineFromConfig(
  config: KdsConfig,
  logger: Logger,
  overrides: Partial<Pick<EngineOptions, 'retryBaseMs' | 'retryMaxMs' | 'stopGraceMs' | 'afterBurst' | 'manyFiles'>> & {
    localFolders?: ShareOptions['localFolders'];
    /** As on a share whose inode numbers are not file ids (smbnetfs), whatever the mount says. */
    inputFileIds?: false;
    wrapApi?: (api: ScannerApi) => ScannerApi;
  } = {},
): Promise<ConfiguredEngine> {
  if (config.insecure) {
    logger.warn(
      'insecure',
      t('"insecure": true in {0}: the KATA server certificate is NOT verified; anyone on the network path can read and alter every scanned file. Use kata_ca or kata_cert_sha256 instead.', config.configPath),
    );
  }
  const folders = config.shares.flatMap((s) => [s.in_dir, s.out_dir, s.qrnt_dir]);
  if (new Set(folders).size !== folders.length) throw new Error(t('in_dir, out_dir and qrnt_dir must be three different folders ({0})', config.configPath));

  const client = await createKataClient(config);
  const certText = await readFile(config.cert_pem, 'utf8');
  const fp = fingerprint256(splitPem(certText).certificates[0] ?? certText);

  const several = config.shares.length > 1;
  const excludes = new Map<string, ExcludeListWatcher>();
  const guards = new Map<string, MountPointGuard>();
  const shares: ShareOptions[] = [];
  for (const share of config.shares) {
    const tag = several ? { share: share.name } : {};
    const watcher = new ExcludeListWatcher(share.exclude_list, { caseSensitive: config.exclude_case_sensitive, logger: several ? withFields(logger, tag) : logger });
    await watcher.refresh();
    excludes.set(share.name, watcher);

    const inMount = await mountOf(share.in_dir);
    const polling = shouldPoll(config.use_polling, inMount);
    if (inMount && polling && config.use_polling === 'auto') {
      logger.info('polling', t('input is on a network file system ({0}); change events from other hosts do not arrive there, so the folder is polled', inMount.fsType), {
        path: share.in_dir,
        ...tag,
      });
    }
    const [outMount, qrntMount] = await Promise.all([mountOf(share.out_dir), mountOf(share.qrnt_dir)]);
    for (const dir of [share.in_dir, share.out_dir, share.qrnt_dir]) guards.set(dir, await MountPointGuard.capture(dir));
    shares.push({
      name: share.name,
      inDir: share.in_dir,
      outDir: share.out_dir,
      qrntDir: share.qrnt_dir,
      excludes: excludeSource(watcher),
      maxFileSizeBytes: share.max_file_size_mb * 1024 * 1024,
      stableMs: share.stable_ms,
      useEvents: !polling,
      // Only a local file system stamps times with this machine's clock.
      inputClockIsOurs: inMount !== undefined && !isNetworkFs(inMount.fsType),
      localFolders: overrides.localFolders ?? { in: isLocalFsType(inMount?.fsType), out: isLocalFsType(outMount?.fsType), qrnt: isLocalFsType(qrntMount?.fsType) },
      inputFileIds: overrides.inputFileIds ?? hasStableFileIds(inMount),
      portableNames: { out: isSmbMount(outMount), qrnt: isSmbMount(qrntMount) },
    });
  }

  const engine = new ScannerEngine({
    shares,
    stateDir: config.state_dir,
    systemId: config.system_id,
    fingerprint256: fp,
    api: overrides.wrapApi ? overrides.wrapApi(client) : client,
    logger,
    pollIntervalMs: config.poll_interval_s * 1000,
    scanTimeoutMs: config.scan_timeout_s * 1000,
    maxInflight: config.max_inflight,
    folderGuard: async (dir) => ((await guards.get(dir)?.stillMounted()) === false ? t('the share is not mounted') : undefined),
    retryBaseMs: overrides.retryBaseMs,
    retryMaxMs: overrides.retryMaxMs,
    stopGraceMs: overrides.stopGraceMs,
    afterBurst: overrides.afterBurst,
    manyFiles: overrides.manyFiles,
  });
  return { engine, client, excludes, fingerprint256: fp, close: () => client.close() };
}

/** Whether names in a folder on this mount follow Windows' rules: an SMB share, or any folder on Windows. */
function isSmbMount(mount: MountEntry | undefined): boolean {
  if (hostPlatform.windowsNames) return true;
  return mount !== undefined && isSmbFs(mount.fsType);
}

function excludeSource(watcher: ExcludeListWatcher): ExcludeSource {
  // The watcher may hand out a fresh list object after each read; what matters is the entries.
  const signature = () => watcher.current.entries.map((e) => e.pattern).join('\n');
  let seen = signature();
  return {
    async refresh() {
      await watcher.refresh();
      const now = signature();
      const changed = now !== seen;
      seen = now;
      return changed;
    },
    matches: (name) => watcher.current.matches(name),
  };
}
