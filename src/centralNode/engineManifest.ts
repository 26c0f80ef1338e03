import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The engine a Central Node without Node.js gets: the single executable inside the Debian
 * package of `npm run package:deb` (scripts/build-deb.ts), which writes this manifest beside it
 * in dist/engine/. The .vsix carries both, so the extension needs nothing else to set up a CN.
 */

export const debPackageName = 'kata-dir-scanner';
/** Where the package installs the engine (and where the set-up installs it from the package). */
export const installedExecutable = '/opt/kata-dir-scanner/kata-dir-scanner';
/** The engine's name inside the package's data archive, as `tar` lists it. */
export const packageMember = `.${installedExecutable}`;

export interface EngineManifest {
  format: 1;
  /** kds --version of the engine. */
  version: string;
  /** The Node.js inside it. */
  node: string;
  arch: 'x86_64';
  /** SHA-256 and size of the executable itself (uncompressed). */
  sha256: string;
  size: number;
  /** Read from the executable (scripts/elfRequirements.mjs). */
  requires: { glibc: string; glibcxx: string; kernel: string; libraries: string[] };
  package: { file: string; name: string; version: string; size: number; sha256: string; member: string };
  /** Fingerprint of what the package was built from (build-deb.ts reuses an identical one). */
  inputs: string;
}

export interface EnginePackage {
  manifest: EngineManifest;
  /** The .deb on this machine. */
  path: string;
}

/** The package and manifest under `root`/dist/engine, or undefined when none was built. */
export async function findEnginePackage(root: string): Promise<EnginePackage | undefined> {
  const dir = join(root, 'dist', 'engine');
  const json = join(dir, 'engine.json');
  if (!existsSync(json)) return undefined;
  const manifest = JSON.parse(await readFile(json, 'utf8')) as EngineManifest;
  if (manifest.format !== 1 || !manifest.package?.file || manifest.package.file.includes('/')) return undefined;
  const path = join(dir, manifest.package.file);
  return existsSync(path) ? { manifest, path } : undefined;
}
