import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { t } from '../common/l10n';
import { hostPlatform, type Platform } from '../common/platform';

/** The named pipe of Windows' own OpenSSH agent (the "OpenSSH Authentication Agent" service). */
export const windowsOpenSshAgentPipe = '\\\\.\\pipe\\openssh-ssh-agent';

export interface FoundAgent {
  kind: 'ssh-auth-sock' | 'windows-openssh' | 'pageant';
  /** What ssh2 takes as `agent`: a socket path, a Windows pipe path, or "pageant". */
  agent: string;
  /** Which agent, in words, for the log and for messages. */
  label: string;
}

/** How agents are looked for on this machine; tests pass their own. */
export interface AgentProbe {
  /** Something accepts a connection on this Windows named pipe. */
  pipeAnswers(path: string): Promise<boolean>;
  /** Pageant's window answers a request for its keys. */
  pageantRunning(): Promise<boolean>;
}

const probeTimeoutMs = 3000;

export const systemAgentProbe: AgentProbe = {
  pipeAnswers: (path) =>
    new Promise((resolve) => {
      const socket = connect(path);
      const done = (answers: boolean) => {
        socket.destroy();
        resolve(answers);
      };
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
      socket.setTimeout(probeTimeoutMs, () => done(false));
    }),
  // ssh2 talks to Pageant through pagent.exe, which passes one agent request to Pageant's window
  // (WM_COPYDATA: every Pageant version, and programs that stand in for it) and writes the answer
  // out; with no such window it exits 11 without reading its input. Asked here directly, so that
  // this is no unhandled EPIPE, and only a real answer (a list of keys) counts.
  pageantRunning: () =>
    new Promise((resolve) => {
      const request = Buffer.from([0, 0, 0, 1, 11]); // SSH2_AGENTC_REQUEST_IDENTITIES
      let child;
      try {
        child = spawn(pagentExe(), [String(request.length)], { windowsHide: true, stdio: ['pipe', 'pipe', 'ignore'] });
      } catch {
        resolve(false);
        return;
      }
      const timer = setTimeout(() => {
        child.kill();
        resolve(false);
      }, probeTimeoutMs);
      const answer: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => answer.length < 64 && answer.push(b));
      child.stdin.on('error', () => undefined);
      child.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        const reply = Buffer.concat(answer);
        // SSH2_AGENT_IDENTITIES_ANSWER (12), framed by its length.
        resolve(code === 0 && reply.length >= 5 && reply.readUInt32BE(0) === reply.length - 4 && reply[4] === 12);
      });
      child.stdin.end(request);
    }),
};

/** Where the bundled ssh2 looks for its pagent.exe too: util/ beside dist/ (scripts/build.mjs puts it there). */
function pagentExe(): string {
  return join(__dirname, '..', 'util', 'pagent.exe');
}

/**
 * The SSH agent kds.remote.useAgent uses: SSH_AUTH_SOCK when it is set (Linux, macOS, and
 * Windows users who set it); else, on Windows, the OpenSSH Authentication Agent's pipe when it
 * answers, then Pageant when it runs. Undefined when there is none.
 */
export async function findSshAgent(o: { env?: NodeJS.ProcessEnv; platform?: Platform; probe?: AgentProbe } = {}): Promise<FoundAgent | undefined> {
  const env = o.env ?? process.env;
  const platform = o.platform ?? hostPlatform;
  const probe = o.probe ?? systemAgentProbe;
  const sock = env.SSH_AUTH_SOCK?.trim();
  if (sock) return { kind: 'ssh-auth-sock', agent: sock, label: t('the ssh-agent at {0} (SSH_AUTH_SOCK)', sock) };
  if (platform.os !== 'win32') return undefined;
  if (await probe.pipeAnswers(windowsOpenSshAgentPipe)) {
    return { kind: 'windows-openssh', agent: windowsOpenSshAgentPipe, label: t('the OpenSSH Authentication Agent of Windows ({0})', windowsOpenSshAgentPipe) };
  }
  if (await probe.pageantRunning()) return { kind: 'pageant', agent: 'pageant', label: t('Pageant') };
  return undefined;
}

/** Where findSshAgent looked, for the message that says none was found. */
export function noAgentFound(platform: Platform = hostPlatform): string {
  return platform.os === 'win32'
    ? t('no SSH agent was found: SSH_AUTH_SOCK is not set, the OpenSSH Authentication Agent service does not answer on {0}, and Pageant is not running', windowsOpenSshAgentPipe)
    : t('no ssh-agent is reachable here (SSH_AUTH_SOCK is not set)');
}
