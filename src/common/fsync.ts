import { open } from 'node:fs/promises';

/**
 * fsync a directory so a rename or unlink in it survives a power cut. Some file systems
 * (CIFS, some FUSE) refuse to fsync directories; there the server owns durability, so those
 * errors are not failures.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR' && code !== 'EBADF' && code !== 'EPERM' && code !== 'EACCES') throw err;
  } finally {
    await handle?.close();
  }
}
