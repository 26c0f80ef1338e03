import type { HostAccess } from './hostAccess';

/** What KDS finds out by itself about the host for the support checklist. Missing = undefined. */
export interface SystemFacts {
  host: string;
  hostname?: string;
  os?: string;
  kernel?: string;
  /** DMI vendor + product ("Dell Inc. PowerEdge R640"), or the virtual machine's. */
  hardwareModel?: string;
  cpu?: string;
  cpuCount?: number;
  memory?: string;
  /** Installed KATA packages (dpkg/rpm) with versions, or what KATA's version files say. */
  kataVersion?: string;
  /** Where kataVersion came from, for the summary. */
  kataVersionSource?: string;
}

async function text(host: HostAccess, argv: string[]): Promise<string | undefined> {
  const r = await host.exec(argv).catch(() => undefined);
  if (!r || r.code !== 0) return undefined;
  const s = r.stdout.toString('utf8').trim();
  return s || undefined;
}

export function parseOsRelease(s: string): string | undefined {
  const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(s);
  return m?.[1] || undefined;
}

export function parseCpuInfo(s: string): { model?: string; count: number } {
  const models = [...s.matchAll(/^model name\s*:\s*(.+)$/gm)].map((m) => m[1]!.trim());
  const count = [...s.matchAll(/^processor\s*:/gm)].length;
  return { ...(models[0] && { model: models[0] }), count };
}

export function parseMemTotal(s: string): string | undefined {
  const kb = Number(/^MemTotal:\s*(\d+)\s*kB/m.exec(s)?.[1]);
  if (!Number.isFinite(kb) || kb <= 0) return undefined;
  return `${(kb / 1024 / 1024).toFixed(1)} GiB`;
}

/** Package lines "name version" of KATA / KEDR / Kaspersky packages. */
export function kataPackages(list: string): string[] {
  return list
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(kata|kedr|apt-|kaspersky|klnagent)/i.test(l) || /\b(kata|anti[- ]targeted|kedr)\b/i.test(l));
}

export async function gatherFacts(host: HostAccess): Promise<SystemFacts> {
  const facts: SystemFacts = { host: host.where };
  const [hostname, osRelease, kernel, vendor, product, cpuinfo, meminfo] = await Promise.all([
    text(host, ['/bin/uname', '-n']),
    text(host, ['/bin/cat', '/etc/os-release']),
    text(host, ['/bin/uname', '-r']),
    text(host, ['/bin/cat', '/sys/class/dmi/id/sys_vendor']),
    text(host, ['/bin/cat', '/sys/class/dmi/id/product_name']),
    text(host, ['/bin/cat', '/proc/cpuinfo']),
    text(host, ['/bin/cat', '/proc/meminfo']),
  ]);
  if (hostname) facts.hostname = hostname;
  const os = osRelease && parseOsRelease(osRelease);
  if (os) facts.os = os;
  if (kernel) facts.kernel = kernel;
  const model = [vendor, product].filter(Boolean).join(' ');
  if (model) facts.hardwareModel = model;
  if (cpuinfo) {
    const c = parseCpuInfo(cpuinfo);
    if (c.model) facts.cpu = c.model;
    if (c.count) facts.cpuCount = c.count;
  }
  const mem = meminfo && parseMemTotal(meminfo);
  if (mem) facts.memory = mem;
  const dpkg = await text(host, ['/usr/bin/dpkg-query', '-W', '-f', '${Package} ${Version}\\n']);
  const rpm = dpkg ? undefined : await text(host, ['/usr/bin/rpm', '-qa', '--qf', '%{NAME} %{VERSION}-%{RELEASE}\\n']);
  const pkgs = kataPackages(dpkg ?? rpm ?? '');
  if (pkgs.length) {
    facts.kataVersion = pkgs.slice(0, 8).join('; ');
    facts.kataVersionSource = dpkg ? 'dpkg-query' : 'rpm';
  }
  return facts;
}

/** "Dell PowerEdge R640, Intel Xeon … × 32, 125.6 GiB RAM" */
export function hardwareLine(f: SystemFacts): string {
  const parts: string[] = [];
  if (f.hardwareModel) parts.push(f.hardwareModel);
  if (f.cpu || f.cpuCount) parts.push(`${f.cpu ?? 'CPU'}${f.cpuCount ? ` × ${f.cpuCount}` : ''}`);
  if (f.memory) parts.push(`${f.memory} RAM`);
  return parts.join(', ');
}
