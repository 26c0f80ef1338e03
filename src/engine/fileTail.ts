import { type FileHandle, open } from 'node:fs/promises';

const chunkBytes = 256 * 1024;

/**
 * The complete lines of a file from its end backwards, newest first, read in chunks so that a
 * caller who finds what it looks for near the end never reads the rest. A torn last line (no
 * newline yet) is skipped. At most `maxBytes` from the end are read (a line cut there is not
 * given). A file that does not exist yields nothing.
 */
export async function* linesFromEnd(path: string, maxBytes = 32 * 1024 * 1024): AsyncGenerator<string> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    const floor = Math.max(0, size - maxBytes);
    let end = size;
    // The start of a line whose end (just before a newline) was in the chunk read before.
    let pending = Buffer.alloc(0);
    let tornTail = true;
    while (end > floor) {
      const start = Math.max(floor, end - chunkBytes);
      const buf = Buffer.alloc(end - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      end = start;
      let data = Buffer.concat([buf.subarray(0, bytesRead), pending]);
      if (tornTail) {
        // Whatever follows the last newline is a line still being written.
        const nl = data.lastIndexOf(0x0a);
        if (nl < 0) continue;
        tornTail = false;
        data = data.subarray(0, nl);
      }
      // `data` ends where a line ends.
      let stop = data.length;
      for (let nl = data.lastIndexOf(0x0a, stop - 1); nl >= 0; nl = stop > 0 ? data.lastIndexOf(0x0a, stop - 1) : -1) {
        const line = data.subarray(nl + 1, stop).toString('utf8');
        if (line) yield line;
        stop = nl;
      }
      pending = Buffer.from(data.subarray(0, stop));
    }
    // The file's first line, when reading reached the beginning of the file.
    if (floor === 0 && !tornTail && pending.length) yield pending.toString('utf8');
  } finally {
    await fh.close();
  }
}
