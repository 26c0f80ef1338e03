import { readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { t } from '../common/l10n';
import { type HostAccess, makePrivateTempDir, reclaim, removeTree } from './hostAccess';
import { KataToolFailed, kataTool } from './kataTools';
import { type DownloadState, readState, remoteDigest } from './resumableDownload';

export const COLLECT_TOOL = 'kata-collect';
export const DEFAULT_COLLECT_DIR = '/tmp/collect';

const ARCHIVE_PATH = /(\/[^\s'"`<>|;,()[\]{}]+?\.(?:tar\.gz|tgz|tar\.xz|tar\.bz2|tar\.zst|tar|zip))(?![A-Za-z0-9_-]|\.[A-Za-z0-9])/g;

/**
 * The archive kata-collect reports. Its wording differs between versions and languages, so
 * this looks for absolute archive paths anywhere in the output and prefers the last one naming
 * "collect" (the documented /tmp/collect/collect-<timestamp>.tar.gz).
 */
export function findArchivePath(output: string): string | undefined {
  const found = [...output.matchAll(ARCHIVE_PATH)].map((m) => m[1]!).filter((p) => !p.includes('/../') && !p.endsWith('/..'));
  if (found.length === 0) return undefined;
  const named = found.filter((p) => /collect/i.test(posix.basename(p)));
  return (named.length ? named : found)[(named.length ? named : found).length - 1];
}

export interface CollectedArchive {
  tool: string;
  output: string;
  state: DownloadState;
}

/**
 * Runs kata-collect as root, finds its archive, and prepares the download: the size and SHA-256
 * computed on the host, and — when the archive is readable by root only — a copy in a private
 * temporary folder handed to the SSH user (SFTP reads as that user).
 */
export async function runKataCollect(host: HostAccess, onOutput?: (text: string) => void, resolvedTool?: string): Promise<CollectedArchive> {
  const tool = resolvedTool ?? (await kataTool(host, COLLECT_TOOL));
  const r = await host.exec([tool], { root: true });
  const output = r.stdout.toString('utf8') + r.stderr.toString('utf8');
  onOutput?.(output);
  if (r.code !== 0) throw new KataToolFailed(t('{0} failed on {1} (exit code {2}): {3}', COLLECT_TOOL, host.where, String(r.code), output.trim()));
  let path = findArchivePath(output);
  if (!path) path = await newestInCollectDir(host);
  if (!path) throw new KataToolFailed(t('{0} ended but its output names no archive, and {1} holds none. Its output: {2}', COLLECT_TOOL, DEFAULT_COLLECT_DIR, output.trim() || '-'));
  return { tool, output, state: await prepareDownload(host, path) };
}

async function newestInCollectDir(host: HostAccess): Promise<string | undefined> {
  const r = await host.exec(['/bin/ls', '-1', '--', DEFAULT_COLLECT_DIR], { root: true });
  if (r.code !== 0) return undefined;
  const names = r.stdout.toString('utf8').split('\n').filter((n) => /^collect.*\.(tar\.gz|tgz)$/.test(n)).sort();
  return names.length ? posix.join(DEFAULT_COLLECT_DIR, names[names.length - 1]!) : undefined;
}

/** Size + SHA-256 on the host, and a path the acting user can read. */
export async function prepareDownload(host: HostAccess, remotePath: string): Promise<DownloadState> {
  const { size, sha256 } = await remoteDigest(host, remotePath, true);
  let readablePath = remotePath;
  let privateDir: string | undefined;
  const readable = (await host.exec(['/usr/bin/test', '-r', remotePath])).code === 0 && (await host.stat(remotePath)) !== undefined;
  if (!readable) {
    privateDir = await makePrivateTempDir(host, 'collect');
    readablePath = posix.join(privateDir, posix.basename(remotePath));
    const cp = await host.exec(['/bin/cp', '--', remotePath, readablePath], { root: true });
    if (cp.code !== 0) {
      await removeTree(host, privateDir).catch(() => false);
      throw new Error(t('Cannot copy {0} for download on {1}: {2}', remotePath, host.where, cp.stderr.toString('utf8').trim()));
    }
    await reclaim(host, privateDir);
  }
  return { host: host.where, remotePath, readablePath, ...(privateDir && { privateDir }), size, sha256, startedAt: new Date().toISOString() };
}

/**
 * A download an earlier run left unfinished for this host, if its archive is still there and
 * unchanged (same size and SHA-256 on the host).
 */
export async function pendingDownload(host: HostAccess, outDir: string): Promise<{ local: string; state: DownloadState } | undefined> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return undefined;
  }
  for (const n of names.filter((x) => x.endsWith('.kds-download.json')).sort().reverse()) {
    const local = join(outDir, n.slice(0, -'.kds-download.json'.length));
    const state = await readState(local);
    if (!state || state.host !== host.where) continue;
    const now = await remoteDigest(host, state.readablePath, state.readablePath === state.remotePath).catch(() => undefined);
    if (now && now.size === state.size && now.sha256 === state.sha256) return { local, state };
  }
  return undefined;
}

/** Removes the archive on the host (and KDS's readable copy). Only after the user confirmed. */
export async function removeRemoteArchive(host: HostAccess, state: DownloadState): Promise<boolean> {
  let ok = true;
  if (state.privateDir) ok = (await removeTree(host, state.privateDir)) && ok;
  const r = await host.exec(['/bin/rm', '-f', '--', state.remotePath], { root: true });
  return r.code === 0 && ok;
}
