import { type FileHandle, open } from 'node:fs/promises';

/**
 * A sliding window over a file read in large blocks: readers ask for "n more bytes" and get
 * views into the current block, so a capture of any size is read with memory bounded by the
 * block size plus the largest record. Two blocks take turns: a view stays valid until the window
 * has moved on twice (a packet is handled before the next one is read, and whatever is kept
 * longer is copied), so reading 1 GB allocates no garbage for the collector to find late.
 */
export class FileWindow {
  private buf = Buffer.alloc(0);
  /** The other block, reused for the next read. */
  private spare = Buffer.alloc(0);
  private pos = 0;
  private end = 0;
  private filePos = 0;
  private eof = false;
  /** File offset of the next unread byte. */
  offset = 0;

  private constructor(
    private readonly fh: FileHandle,
    private readonly blockSize: number,
  ) {}

  static async open(path: string, blockSize = 4 << 20): Promise<FileWindow> {
    return new FileWindow(await open(path, 'r'), blockSize);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** True when `n` bytes are available; false when the file ends first (the rest stays readable). */
  async ensure(n: number): Promise<boolean> {
    while (this.remaining < n && !this.eof) {
      const left = this.remaining;
      // Fill the block up: it holds blockSize bytes (or the record asked for, if larger).
      const size = Math.max(this.blockSize, n);
      const want = size - left;
      const next = this.spare.length >= size ? this.spare : Buffer.allocUnsafeSlow(size);
      this.buf.copy(next, 0, this.pos, this.end);
      const { bytesRead } = await this.fh.read(next, left, want, this.filePos);
      this.filePos += bytesRead;
      if (bytesRead === 0) this.eof = true;
      this.spare = this.buf;
      this.buf = next;
      this.pos = 0;
      this.end = left + bytesRead;
    }
    return this.remaining >= n;
  }

  peek(n: number): Buffer {
    return this.buf.subarray(this.pos, Math.min(this.pos + n, this.end));
  }

  take(n: number): Buffer {
    const b = this.buf.subarray(this.pos, Math.min(this.pos + n, this.end));
    this.pos += b.length;
    this.offset += b.length;
    return b;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
