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
  /** The versions of the installed KATA packages ("6.0.1-123 (kata-cn, kata-sensor)"); see kataPackages. */
  kataVersion?: string;
  /** The same for KEDR's packages. */
  kedrVersion?: string;
  /**
   * Where kataVersion came from: the package tool that listed it, or `user` when the person
   * filing the request corrected it (their value replaces the found one everywhere).
   */
  kataVersionSource?: 'dpkg-query' | 'rpm' | 'user';
  /** Why kataVersion is empty: no package tool answered, or none of the packages is KATA's or KEDR's. */
  kataVersionMissing?: 'no-package-tool' | 'no-kata-package';
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

/** One installed package as the package tool lists it (dpkg-query / rpm, tab-separated). */
export interface InstalledPackage {
  name: string;
  version: string;
  /** dpkg's Maintainer or rpm's Vendor. */
  maker: string;
}

/** The package list format each tool is asked for: name, version, maintainer/vendor. */
export const DPKG_FORMAT = '${Package}\\t${Version}\\t${Maintainer}\\n';
export const RPM_FORMAT = '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{VENDOR}\\n';

export function parsePackageList(list: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const line of list.split('\n')) {
    const [name, version, maker = ''] = line.split('\t').map((x) => x.trim());
    if (name && version) out.push({ name, version, maker });
  }
  return out;
}

/**
 * Which installed packages are KATA's or KEDR's. Kaspersky does not document the package names
 * of a Central Node (it ships as an appliance image), and `kata-…` is also Kata Containers'
 * prefix (kata-runtime, kata-containers…), so the rule is deliberately narrow: the name says
 * KATA or KEDR as a word of its own (`kata`, `kata-…`, `kedr_…`, `kaspersky-kata…`,
 * `…anti-targeted-attack…`) AND Kaspersky made it (the name, or the maintainer/vendor, says
 * Kaspersky). Anything else — apt-transport-https, klnagent, another Kaspersky product — does
 * not count; finding nothing leaves the version to the person filing the request.
 */
export function kataPackages(pkgs: InstalledPackage[]): { kata: InstalledPackage[]; kedr: InstalledPackage[] } {
  const kaspersky = (p: InstalledPackage) => /kaspersky/i.test(p.name) || /kaspersky/i.test(p.maker);
  const word = (re: RegExp) => (p: InstalledPackage) => re.test(p.name);
  const isKedr = word(/(^|[-_.])kedr([-_.]|$)/i);
  const isKata = word(/(^|[-_.])(kata|anti[-_]?targeted[-_]?attack)([-_.]|$)/i);
  return {
    kata: pkgs.filter((p) => kaspersky(p) && isKata(p) && !isKedr(p)),
    kedr: pkgs.filter((p) => kaspersky(p) && isKedr(p)),
  };
}

/** "6.0.1-123 (kata-cn, kata-sensor); 6.0.0 (kata-x)": each version once, with the packages that have it. */
export function versionLine(pkgs: InstalledPackage[], max = 8): string | undefined {
  if (!pkgs.length) return undefined;
  const byVersion = new Map<string, string[]>();
  for (const p of pkgs.slice(0, max)) byVersion.set(p.version, [...(byVersion.get(p.version) ?? []), p.name]);
  return [...byVersion].map(([v, names]) => `${v} (${names.join(', ')})`).join('; ');
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
  const dpkg = await text(host, ['/usr/bin/dpkg-query', '-W', '-f', DPKG_FORMAT]);
  const rpm = dpkg ? undefined : await text(host, ['/usr/bin/rpm', '-qa', '--qf', RPM_FORMAT]);
  if (!dpkg && !rpm) facts.kataVersionMissing = 'no-package-tool';
  else {
    const found = kataPackages(parsePackageList(dpkg ?? rpm ?? ''));
    const kata = versionLine(found.kata);
    const kedr = versionLine(found.kedr);
    if (kata) {
      facts.kataVersion = kata;
      facts.kataVersionSource = dpkg ? 'dpkg-query' : 'rpm';
    } else facts.kataVersionMissing = 'no-kata-package';
    if (kedr) facts.kedrVersion = kedr;
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
