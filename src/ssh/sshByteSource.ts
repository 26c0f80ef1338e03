import { t } from '../common/l10n';
import { type ByteSource, IcapLogSourceError, type SourceStat } from '../icapLog/byteSource';
import type { SftpFiles } from './sftpFiles';
import type { ExecResult, SudoOption } from './sshSession';

/** What the byte source needs of an SSH session (SshSession has it). */
export interface SshByteShell {
  exec(argv: string[], opts?: { sudo?: SudoOption; timeoutMs?: number }): Promise<ExecResult>;
  sftp(): Promise<SftpFiles>;
}

export interface SshByteSourceOptions {
  /** How to become root when the SSH user may not read the file: true = `sudo -n`. Without it, only what the user may read. */
  sudo?: SudoOption;
  /** 'auto' (default): SFTP while it is permitted, else sudo; 'sftp' / 'sudo' force one way. */
  via?: 'auto' | 'sftp' | 'sudo';
  timeoutMs?: number;
}

const SFTP_PERMISSION_DENIED = 3;

/**
 * A file on the Central Node as a ByteSource for the ICAP log viewer. Size and identity come from
 * `stat -L -c '%s %i %d'` (an argv, run with sudo when the SSH user cannot see the file); bytes
 * from SFTP while the user may read the file, otherwise from
 * `sudo -n dd if=FILE iflag=skip_bytes,count_bytes skip=POS count=LEN status=none`. Rotation
 * (another inode at the path) and truncation (a smaller size) bump `generation`, as for a local file.
 */
export class SshByteSource implements ByteSource {
  private mode: 'sftp' | 'sudo';
  private statAsRoot = false;
  private ino: string | undefined;
  private lastSize = 0;
  private generation = 0;
  private lastChange: SourceStat['lastChange'];
  private sftpCache: { shell: SshByteShell; sftp: Promise<SftpFiles> } | undefined;

  constructor(
    private readonly shell: () => Promise<SshByteShell>,
    readonly path: string,
    private readonly opts: SshByteSourceOptions = {},
  ) {
    this.mode = opts.via === 'sudo' ? 'sudo' : 'sftp';
    this.statAsRoot = opts.via === 'sudo';
  }

  get label(): string {
    return this.path;
  }

  /** 'sftp' or 'sudo': how bytes are read now (tests and the panel's title). */
  get via(): 'sftp' | 'sudo' {
    return this.mode;
  }

  private async run(argv: string[], asRoot: boolean): Promise<ExecResult> {
    const s = await this.shell();
    return s.exec(argv, { ...(asRoot && { sudo: this.opts.sudo ?? true }), timeoutMs: this.opts.timeoutMs ?? 30_000 });
  }

  private canSudo(): boolean {
    return this.opts.via !== 'sftp' && this.opts.sudo !== undefined && this.opts.sudo !== false;
  }

  async stat(): Promise<SourceStat> {
    const argv = ['stat', '-L', '-c', '%s %i %d', '--', this.path];
    let r = await this.run(argv, this.statAsRoot);
    if (r.code !== 0 && !this.statAsRoot && this.canSudo() && /denied/i.test(r.stderr.toString('utf8'))) {
      this.statAsRoot = true;
      r = await this.run(argv, true);
    }
    if (r.code !== 0) {
      // Between logrotate's rename and create the path is briefly missing: keep the last known state.
      if (this.ino !== undefined && /No such file/i.test(r.stderr.toString('utf8'))) return this.current();
      throw new IcapLogSourceError(t('The ICAP log {0} cannot be opened: {1}', this.path, r.stderr.toString('utf8').trim() || `exit ${r.code ?? r.signal}`));
    }
    const [sizeText, ino, dev] = r.stdout.toString('utf8').trim().split(/\s+/);
    const size = Number(sizeText);
    if (!Number.isSafeInteger(size) || size < 0) throw new IcapLogSourceError(t('The ICAP log {0} cannot be opened: {1}', this.path, r.stdout.toString('utf8').trim()));
    const id = `${ino}:${dev}`;
    if (this.ino !== undefined && id !== this.ino) {
      this.generation++;
      this.lastChange = 'rotated';
    } else if (size < this.lastSize) {
      this.generation++;
      this.lastChange = 'truncated';
    }
    this.ino = id;
    this.lastSize = size;
    return this.current();
  }

  private current(): SourceStat {
    const out: SourceStat = { size: this.lastSize, generation: this.generation };
    if (this.lastChange) out.lastChange = this.lastChange;
    return out;
  }

  async read(position: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    if (this.mode === 'sftp') {
      try {
        return await this.readSftp(position, length);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        const denied = code === SFTP_PERMISSION_DENIED || code === 'EACCES' || /denied/i.test((err as Error).message ?? '');
        if (!denied || !this.canSudo()) throw new IcapLogSourceError(t('The ICAP log {0} cannot be opened: {1}', this.path, (err as Error).message));
        this.mode = 'sudo';
      }
    }
    return this.readDd(position, length);
  }

  private async readSftp(position: number, length: number): Promise<Buffer> {
    const sftp = await this.files();
    const stream = sftp.createReadStream(this.path, { start: position, end: position + length - 1 });
    const chunks: Buffer[] = [];
    let got = 0;
    try {
      for await (const c of stream) {
        chunks.push(c as Buffer);
        got += (c as Buffer).length;
        if (got >= length) break;
      }
    } finally {
      stream.destroy();
    }
    return Buffer.concat(chunks).subarray(0, length);
  }

  /** One SFTP channel per session, reopened when the session changed (after a reconnect). */
  private async files(): Promise<SftpFiles> {
    const shell = await this.shell();
    if (this.sftpCache?.shell !== shell) {
      const entry = { shell, sftp: shell.sftp() };
      this.sftpCache = entry;
      entry.sftp.catch(() => {
        if (this.sftpCache === entry) this.sftpCache = undefined;
      });
    }
    return this.sftpCache.sftp;
  }

  private async readDd(position: number, length: number): Promise<Buffer> {
    const argv = ['dd', `if=${this.path}`, 'iflag=skip_bytes,count_bytes', `skip=${position}`, `count=${length}`, 'status=none'];
    const r = await this.run(argv, true);
    if (r.code !== 0) throw new IcapLogSourceError(t('The ICAP log {0} cannot be opened: {1}', this.path, r.stderr.toString('utf8').trim() || `exit ${r.code ?? r.signal}`));
    return r.stdout.subarray(0, length);
  }

  async close(): Promise<void> {
    const c = this.sftpCache;
    this.sftpCache = undefined;
    if (c) (await c.sftp.catch(() => undefined))?.close();
  }
}
