import { type FileHandle, open } from 'node:fs/promises';

/**
 * A sliding window over a file read in large blocks: readers ask for "n more bytes" and get
 * views into the current block, so a capture of any size is read with memory bounded by the
 * block size plus the largest record. Views stay valid after the window moves on (each block is
 * a new Buffer), and are released with the packet that holds them.
 */
export class FileWindow {
  private buf = Buffer.alloc(0);
  private pos = 0;
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
    return this.buf.length - this.pos;
  }

  /** True when `n` bytes are available; false when the file ends first (the rest stays readable). */
  async ensure(n: number): Promise<boolean> {
    while (this.remaining < n && !this.eof) {
      const want = Math.max(this.blockSize, n - this.remaining);
      const next = Buffer.allocUnsafe(this.remaining + want);
      this.buf.copy(next, 0, this.pos);
      const { bytesRead } = await this.fh.read(next, this.remaining, want, this.filePos);
      this.filePos += bytesRead;
      if (bytesRead === 0) this.eof = true;
      this.buf = next.subarray(0, this.remaining + bytesRead);
      this.pos = 0;
    }
    return this.remaining >= n;
  }

  peek(n: number): Buffer {
    return this.buf.subarray(this.pos, this.pos + n);
  }

  take(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += b.length;
    this.offset += b.length;
    return b;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
