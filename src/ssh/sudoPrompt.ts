import { randomBytes } from 'node:crypto';
import type { SudoOption } from './sshSession';

/** The argv that runs `argv` as root (or as is), with the unique prompt and marker sudo -S needs. */
export interface SudoCommand {
  argv: string[];
  /** Set when sudo reads a password from stdin: the prompt it prints and the marker the wrapper prints once it runs. */
  prompt?: string;
  marker?: string;
}

export function sudoCommand(argv: string[], sudo: SudoOption | undefined, id = randomBytes(8).toString('hex')): SudoCommand {
  if (typeof sudo === 'object') {
    const prompt = `[kds-sudo-${id}] password: `;
    const marker = `kds-sudo-ready-${id}`;
    // sudo -S reads the password from stdin after printing our unique prompt on stderr. The
    // tiny sh wrapper (run by sudo, arguments passed as "$@", not parsed) prints a marker once
    // sudo let it run, so KDS knows when stdin belongs to the command and not to sudo.
    return { argv: ['sudo', '-S', '-p', prompt, '--', '/bin/sh', '-c', 'printf "%s\\n" "$0" >&2 && exec "$@"', marker, ...argv], prompt, marker };
  }
  if (sudo) return { argv: ['sudo', '-n', '--', ...argv] };
  return { argv };
}

export type SudoStderrEvent = { kind: 'text'; data: Buffer } | { kind: 'prompt' } | { kind: 'ready' };

/**
 * Reads the stderr of a `sudo -S` command: sudo's password prompts and then the marker that
 * says the command itself runs. Everything else is the command's (or sudo's) own text, passed
 * on in order. A prompt or marker split across chunks is recognised.
 */
export class SudoStderr {
  private buf = '';
  private running = false;

  constructor(
    private readonly prompt: string,
    private readonly marker: string,
  ) {}

  /** True once the marker was seen: stdin now belongs to the command. */
  get isRunning(): boolean {
    return this.running;
  }

  push(chunk: Buffer): SudoStderrEvent[] {
    if (this.running) return [{ kind: 'text', data: chunk }];
    const events: SudoStderrEvent[] = [];
    const text = (s: string) => {
      if (s) events.push({ kind: 'text', data: Buffer.from(s, 'latin1') });
    };
    this.buf += chunk.toString('latin1');
    for (;;) {
      const m = this.buf.indexOf(this.marker + '\n');
      const p = this.buf.indexOf(this.prompt);
      if (m >= 0 && (p < 0 || m < p)) {
        text(this.buf.slice(0, m));
        const rest = this.buf.slice(m + this.marker.length + 1);
        this.buf = '';
        this.running = true;
        events.push({ kind: 'ready' });
        text(rest);
        return events;
      }
      if (p < 0) return events;
      text(this.buf.slice(0, p));
      this.buf = this.buf.slice(p + this.prompt.length);
      events.push({ kind: 'prompt' });
    }
  }

  /** What is left when stderr ends before the command ran (sudo's own complaint, say). */
  end(): Buffer | undefined {
    const rest = this.running || !this.buf ? undefined : Buffer.from(this.buf, 'latin1');
    this.buf = '';
    return rest;
  }
}
