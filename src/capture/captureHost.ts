import type { Readable } from 'node:stream';

/** A tcpdump started by a capture host. */
export interface HostProcess {
  stdout: Readable;
  stderr: Readable;
  /** Settles when the process ended (code null when killed by a signal). */
  exit: Promise<{ code: number | null }>;
}

/**
 * Where a capture runs: this machine or a Central Node over SSH. The capture itself
 * (tcpdumpRunner.ts) is one implementation over this interface.
 */
export interface CaptureHost {
  /** "this computer" or "user@host:port", for messages. */
  readonly label: string;
  /** Root runs tcpdump (directly or through sudo): tcpdump then keeps root to write the file (-Z root). */
  runsAsRoot(): Promise<boolean>;
  /** The absolute path of a root-owned tcpdump nobody else can write, or undefined. */
  findTcpdump(): Promise<string | undefined>;
  /** Runs a short command (argv[0] absolute) as the SSH/local user and collects its output. */
  run(argv: string[]): Promise<{ code: number | null; output: string }>;
  /** A new private (0700) folder for the capture file. */
  makeTempDir(): Promise<string>;
  /** Starts argv (argv[0] absolute), as root when the host needs sudo for it. */
  start(argv: string[]): HostProcess;
  /** Asks the process started by start() to end cleanly (SIGINT: tcpdump flushes and counts). */
  interrupt(p: HostProcess): Promise<void>;
  /** Forces it (SIGKILL) when it does not end. */
  kill(p: HostProcess): Promise<void>;
  /** Size of a file the process writes, undefined while it does not exist. */
  fileSize(path: string): Promise<number | undefined>;
  /** Copies the capture to a local file (created 0600, never overwriting something else's link). */
  fetch(path: string, localPath: string): Promise<void>;
  /** Removes the temporary folder and what it holds. */
  removeTempDir(dir: string): Promise<void>;
}

/** Places tcpdump is looked for: fixed system folders only, never $PATH (a root tool must not run what a user dropped there). */
export const tcpdumpCandidates = ['/usr/sbin/tcpdump', '/usr/bin/tcpdump', '/sbin/tcpdump', '/bin/tcpdump'];

/** A root-owned regular file no group or other can write is safe to run as root. */
export function isSafeExecutable(s: { uid: number; mode: number; isFile: boolean }): boolean {
  return s.isFile && s.uid === 0 && (s.mode & 0o022) === 0 && (s.mode & 0o111) !== 0;
}

/** "4.99.3" from `tcpdump --version` (it prints on stdout or stderr depending on the version). */
export function tcpdumpVersion(output: string): [number, number] | undefined {
  const m = /tcpdump version (\d+)\.(\d+)/.exec(output);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** --print (write the file and print each packet) came with tcpdump 4.99. */
export function supportsPrint(v: [number, number] | undefined): boolean {
  return !!v && (v[0] > 4 || (v[0] === 4 && v[1] >= 99));
}
