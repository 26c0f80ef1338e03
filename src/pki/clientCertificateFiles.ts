import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../common/fsync';
import { type KeyAndCert, createSelfSigned } from './certs';

export const clientCertificateFileNames = ['server.key', 'server.crt', 'cert.pem'] as const;
export type ClientCertificateFileName = (typeof clientCertificateFileNames)[number];

/** Some of the files exist and `force` was not given; nothing was written. */
export class CertificateFilesExist extends Error {
  constructor(readonly paths: string[]) {
    super(paths.join(', '));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes a private temporary file next to the target; readable by the owner only from the first byte. */
async function writeTemp(dir: string, name: string, content: string): Promise<string> {
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    // The umask can only remove bits, but a default ACL on the folder could add some.
    await fh.chmod(0o600);
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/** Moves tmp into place: without force a hard link, which fails instead of replacing a file. */
async function place(tmp: string, target: string, force: boolean): Promise<void> {
  if (force) return rename(tmp, target);
  try {
    await link(tmp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CertificateFilesExist([target]);
    // File systems without hard links: check, then rename (a narrow race, but still atomic content).
    if (await exists(target)) throw new CertificateFilesExist([target]);
    return rename(tmp, target);
  }
  await unlink(tmp);
}

/**
 * The client key and self-signed certificate KDS presents to KATA, written the way the original
 * set-up lays them out (server.key, server.crt, and cert.pem = certificate + key), mode 0600,
 * each file complete or absent. Throws CertificateFilesExist rather than replace a certificate
 * KATA may already have approved, unless `force`.
 */
export async function writeClientCertificate(
  dir: string,
  opts: { commonName: string; days: number; force: boolean },
): Promise<{ paths: Record<ClientCertificateFileName, string>; made: KeyAndCert }> {
  const paths = Object.fromEntries(clientCertificateFileNames.map((f) => [f, join(dir, f)])) as Record<ClientCertificateFileName, string>;
  if (!opts.force) {
    const present: string[] = [];
    for (const f of clientCertificateFileNames) if (await exists(paths[f])) present.push(paths[f]);
    if (present.length > 0) throw new CertificateFilesExist(present);
  }
  const made = await createSelfSigned({ commonName: opts.commonName, days: opts.days });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const contents: Record<ClientCertificateFileName, string> = {
    'server.key': made.keyPem,
    'server.crt': made.certPem,
    'cert.pem': made.certPem + made.keyPem,
  };
  const temps: string[] = [];
  try {
    const ready: Array<[string, string]> = [];
    for (const f of clientCertificateFileNames) {
      const tmp = await writeTemp(dir, f, contents[f]);
      temps.push(tmp);
      ready.push([tmp, paths[f]]);
    }
    for (const [tmp, target] of ready) await place(tmp, target, opts.force);
  } finally {
    for (const tmp of temps) await unlink(tmp).catch(() => undefined);
  }
  await fsyncDir(dir);
  return { paths, made };
}
