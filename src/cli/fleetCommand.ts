import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { t } from '../common/l10n';
import { jsonWithVisibleControls, visibleText } from '../common/displayText';
import { ExitCode } from '../common/exitCode';
import { type CentralNodeEntry, type CentralNodeList, cnId, cnLabel, parseCentralNodeList } from '../centralNode/fleetList';
import { SshFleetConnector, probeFleet } from '../centralNode/fleetProbe';
import { findSshAgent } from '../ssh/agentChoice';
import { defaultKnownHostsFiles, defaultTrustStorePath } from '../ssh/hostKeyVerifier';
import type { SshAuth } from '../ssh/sshTarget';
import { type CnAssessment, type CnProbe, assessCn, needsAttention } from '../viewModel/fleetStatus';
import { type CliCommand, type CommandIo, UsageError, parseOptions, stdio } from './command';

const help = `Usage: kds fleet status --file FILE [--json] [--timeout S] [--concurrency N]

Looks at every Central Node listed in FILE over SSH and prints one table: reachable, KDS
installed and its version, the service running, KATA's approval, and per share the files
waiting, moved to output and to quarantine today, with what needs attention (a stopped
service, a missing approval, a folder not mounted, quarantine growing, the last error).
The same table as the Central Nodes view of VS Code (docs/remote.md).

FILE is a JSON array in the form of the VS Code setting kds.centralNodes, e.g.
  [{"name": "HQ", "host": "cn1.example", "user": "admin", "identityFile": "~/.ssh/id_ed25519"},
   {"name": "Branch", "host": "10.0.5.4", "port": 2222, "user": "root", "useAgent": true}]
(keys: name, host, port, user, identityFile, useAgent, sudo auto|never, knownHostsFiles,
configPath, serviceName, engineCommand). A settings.json holding "kds.centralNodes" is read too.

Nothing is asked: host keys are verified strictly against each entry's knownHostsFiles,
~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts and KDS's trust store (keys accepted with
kds remote); an unknown or changed key is reported for that Central Node, never accepted.
Authentication: the SSH agent (SSH_AUTH_SOCK; on Windows the OpenSSH agent or Pageant), the
entry's identityFile (without passphrase),
and the password in KDS_SSH_PASSWORD if set (also used for sudo; otherwise sudo -n).

Options:
  --file FILE        the list of Central Nodes (required)
  --json             machine-readable output
  --timeout S        seconds each Central Node may take, connecting included (default 60)
  --concurrency N    Central Nodes looked at at once (default 4)

Exit codes: 0 every Central Node answered and none needs attention, 1 one needs attention or
did not answer, 2 wrong arguments or a wrong FILE, 3 only KATA's approval is missing somewhere.`;

export const command: CliCommand = {
  name: 'fleet',
  summary: 'Status of several Central Nodes at once, over SSH',
  help,
  run: (argv) => runFleet(argv, stdio),
};

export async function runFleet(argv: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'status') throw new UsageError(t('Name one of: {0}', 'status'));
  const { values: v } = parseOptions(rest, {
    file: { type: 'string' },
    json: { type: 'boolean', default: false },
    timeout: { type: 'string' },
    concurrency: { type: 'string' },
  });
  if (!v.file) throw new UsageError(t('--file FILE is required'));
  const timeoutS = v.timeout === undefined ? 60 : Number(v.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS < 1 || timeoutS > 3600) throw new UsageError(t('--timeout must be a number of seconds from 1 to 3600'));
  const concurrency = v.concurrency === undefined ? 4 : Number(v.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError(t('--concurrency must be a whole number from 1 to 64'));

  let list: CentralNodeList;
  try {
    list = parseCentralNodeList(JSON.parse(await readFile(resolve(v.file), 'utf8')));
  } catch (err) {
    io.err(t('Cannot read the list of Central Nodes {0}: {1}', v.file, (err as Error).message) + '\n');
    return ExitCode.usage;
  }
  if (!list.entries.length && !list.invalid.length) {
    io.err(t('{0} lists no Central Nodes.', v.file) + '\n');
    return ExitCode.usage;
  }
  const password = env.KDS_SSH_PASSWORD || undefined;
  const connector = new SshFleetConnector({
    auth: (e) => cliAuth(e, env),
    hostKeys: (e) => ({
      knownHostsFiles: [...e.knownHostsFiles, ...defaultKnownHostsFiles()],
      trustStorePath: defaultTrustStorePath(env),
      onUnknown: async () => false,
    }),
    sudo: async () => (password !== undefined ? { password: async () => password } : true),
  });
  let probes: Map<string, CnProbe>;
  try {
    probes = await probeFleet(list.entries, connector, { concurrency, timeoutMs: timeoutS * 1000 });
  } finally {
    await connector.closeAll();
  }
  const rows = list.entries.map((e) => ({ entry: e, probe: probes.get(cnId(e))!, assessment: assessCn(probes.get(cnId(e))) }));
  if (v.json) io.out(jsonWithVisibleControls(fleetJson(rows, list)) + '\n');
  else io.out(fleetTable(rows, list).join('\n') + '\n');
  if (list.invalid.length) return ExitCode.usage;
  return fleetExitCode(rows.map((r) => r.assessment));
}

/** Agent, key file, the password from the environment: never a question. */
function cliAuth(e: CentralNodeEntry, env: NodeJS.ProcessEnv): SshAuth {
  const password = env.KDS_SSH_PASSWORD || undefined;
  return {
    ...(e.useAgent && { agent: () => findSshAgent({ env }) }),
    ...(e.identityFile && { privateKeyPath: resolve(e.identityFile), passphrase: async () => undefined }),
    ...(password !== undefined && { password: async () => password }),
  };
}

/** 0 all fine; 3 when KATA's approval is all that is missing; 1 anything else. */
export function fleetExitCode(assessments: CnAssessment[]): number {
  const bad = assessments.filter(needsAttention);
  if (!bad.length) return ExitCode.ok;
  const onlyApproval = bad.every((a) => a.health === 'attention' && a.attention.length > 0 && (a.approval === 'pending' || a.approval === 'rejected') && a.attention.length === 1);
  return onlyApproval ? ExitCode.notApproved : ExitCode.failure;
}

interface Row {
  entry: CentralNodeEntry;
  probe: CnProbe;
  assessment: CnAssessment;
}

function healthWord(a: CnAssessment, p: CnProbe): string {
  if (p.outcome === 'not-installed') return t('not installed');
  switch (a.health) {
    case 'ok':
      return t('ok');
    case 'attention':
      return t('attention');
    case 'unreachable':
      return t('unreachable');
    default:
      return t('unknown');
  }
}

function approvalWord(a: string | undefined): string {
  return a === 'approved' ? t('approved') : a === 'pending' ? t('pending') : a === 'rejected' ? t('rejected') : a ? t('unknown') : '';
}

/** The table for a terminal: one line per CN, its shares and what needs attention below it. */
export function fleetTable(rows: Row[], list: CentralNodeList): string[] {
  const head = [t('Central Node'), t('Address'), t('State'), 'KDS', t('Service'), 'KATA', t('Waiting'), t('Out today'), t('Quarantine today')];
  const cells = rows.map(({ entry, probe, assessment: a }) => {
    const shares = probe.status?.shares ?? [];
    const sum = (k: 'waiting' | 'outToday' | 'qrntToday') => (probe.status ? String(shares.reduce((n, s) => n + s[k], 0)) : '');
    return [visibleText(entry.name), cnLabel(entry), healthWord(a, probe), a.version ?? '', a.running === undefined ? '' : a.running ? t('running') : t('stopped'), approvalWord(a.approval), sum('waiting'), sum('outToday'), sum('qrntToday')];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(head)];
  rows.forEach((r, i) => {
    out.push(line(cells[i]!));
    const shares = r.assessment.shares;
    if (shares.length > 1) for (const s of shares) out.push(`    ${t('share')} ${s.name}: ${s.description}`);
    for (const reason of r.assessment.attention) out.push(`    ! ${reason}`);
    if (r.probe.statusProblem) out.push(`    ${visibleText(r.probe.statusProblem)}`);
  });
  for (const bad of list.invalid) out.push(t('Entry {0} ({1}) is not used: {2}', bad.index + 1, visibleText(bad.label), bad.problem));
  const attention = rows.filter((r) => needsAttention(r.assessment)).length;
  out.push('', t('{0} of {1} Central Nodes need attention.', attention, rows.length));
  return out;
}

export function fleetJson(rows: Row[], list: CentralNodeList): object {
  return {
    time: new Date().toISOString(),
    nodes: rows.map(({ entry, probe, assessment: a }) => ({
      name: entry.name,
      user: entry.user,
      host: entry.host,
      port: entry.port,
      health: probe.outcome === 'not-installed' ? 'not-installed' : a.health,
      attention: a.attention,
      ...(a.version && { version: a.version }),
      ...(a.running !== undefined && { running: a.running }),
      ...(a.approval && { approval: a.approval }),
      probe,
    })),
    invalid: list.invalid,
  };
}
