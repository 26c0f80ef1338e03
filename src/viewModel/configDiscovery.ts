import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export const configFileName = 'kata_dir_scanner.conf';

/** Folders never looked into: tools' and builds' trees, where no one keeps a KDS configuration. */
const skipped = new Set(['node_modules', '.git', '.hg', '.svn', '.e2e', 'dist', 'out', 'qrnt', 'in', 'state', 'objects', '.vscode-test']);

export interface DiscoveryOptions {
  /** Folder levels below each root that are looked into (default 3: a/b/c/kata_dir_scanner.conf). */
  maxDepth?: number;
  /** Folders read at most, over all roots (default 2000), so a huge workspace costs a bounded time. */
  maxFolders?: number;
  /** Files found at most (default 20). */
  maxFound?: number;
}

/**
 * Every kata_dir_scanner.conf in the workspace folders within a few levels — the root's own, the
 * `kds-demo/` that `npm start` and Start Embedded KATA make, any other — nearest first, then by
 * path. Breadth first, hidden folders and build/tool folders skipped, symbolic links not followed.
 */
export async function findConfigurations(roots: readonly string[], o: DiscoveryOptions = {}): Promise<string[]> {
  const maxDepth = o.maxDepth ?? 3;
  let budget = o.maxFolders ?? 2000;
  const maxFound = o.maxFound ?? 20;
  const found: Array<{ path: string; depth: number; root: number }> = [];
  let level = roots.map((dir, root) => ({ dir, root }));
  for (let depth = 0; depth <= maxDepth && level.length && found.length < maxFound; depth++) {
    const next: typeof level = [];
    for (const { dir, root } of level) {
      if (budget-- <= 0) break;
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        continue; // unreadable or gone: nothing to offer there
      }
      for (const e of entries) {
        if (e.isFile() && e.name === configFileName) found.push({ path: join(dir, e.name), depth, root });
        else if (e.isDirectory() && !e.name.startsWith('.') && !skipped.has(e.name)) next.push({ dir: join(dir, e.name), root });
      }
    }
    level = next.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  }
  return found
    .sort((a, b) => a.depth - b.depth || a.root - b.root || (a.path < b.path ? -1 : 1))
    .slice(0, maxFound)
    .map((f) => f.path);
}

/** How a found file is named to the person: relative to the workspace folder holding it, with / separators. */
export function workspaceRelative(roots: readonly string[], path: string): string {
  for (const root of roots) {
    const rel = relative(root, path);
    if (rel && !rel.startsWith('..') && !rel.startsWith(sep)) return rel.split(sep).join('/');
  }
  return path;
}
