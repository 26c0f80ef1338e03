/**
 * A Central Node as it comes, for the set-up tests: no Node.js, reached over a real OpenSSH sshd
 * that listens from inside a private mount namespace (privateRoot.ts), where /usr/bin/node is
 * removed, the SSH user may sudo, and, when asked, systemd "runs" (systemdStandIn.ts). Everything
 * the set-up installs lands in the namespace's overlays: /opt/kata-dir-scanner, /etc, /var, the
 * user's home; the machine's own stay as they are.
 *
 * What the tests need to make the CN unfit is real where it can be: /opt can be a small file
 * system of its own (df reports what it really has free). An old C library cannot be made real,
 * so `setLibc('glibc 2.17')` makes the CN's `getconf GNU_LIBC_VERSION` say so (a stand-in put
 * over /usr/bin/getconf in the namespace, answering for that one variable); the product's check is
 * the same either way.
 */
import { execFileSync } from 'node:child_process';
import { PrivateRoot, type PrivateRootOptions, privateRootUnavailable } from './privateRoot';
import { TestSshd, sshdUnavailable } from './sshd';
import { installSystemdStandIn } from './systemdStandIn';

export interface FreshCnOptions extends Pick<PrivateRootOptions, 'optSizeMiB'> {
  /** Install the systemd stand-in (default: no systemd, like a container). */
  systemd?: boolean;
}

export interface FreshCn {
  root: PrivateRoot;
  sshd: TestSshd;
  user: { name: string; uid: number; gid: number; home: string };
  /** What the CN's getconf GNU_LIBC_VERSION prints from now on (undefined: the real answer). */
  setLibc(text: string | undefined): Promise<void>;
  stop(): Promise<void>;
}

export function freshCnUnavailable(): string | undefined {
  const why = sshdUnavailable() ?? privateRootUnavailable();
  if (why && process.env.CI === 'true') throw new Error(why);
  return why;
}

const libcFlag = '/run/kds-libc-stand-in';

export async function startFreshCn(o: FreshCnOptions = {}): Promise<FreshCn> {
  const root = await PrivateRoot.start({ ...(o.optSizeMiB !== undefined && { optSizeMiB: o.optSizeMiB }) });
  try {
    // No Node.js anywhere root would look (/bin is /usr/bin on Debian).
    await root.run(['rm', '-f', '/usr/bin/node', '/usr/local/bin/node', '/usr/bin/nodejs']);
    await root.run(['cp', '-p', '/usr/bin/getconf', '/usr/bin/getconf.real']);
    await root.writeFile(
      '/usr/bin/getconf',
      `#!/bin/sh\nif [ "$1" = GNU_LIBC_VERSION ] && [ -s ${libcFlag} ]; then cat ${libcFlag}; exit 0; fi\nexec /usr/bin/getconf.real "$@"\n`,
      0o755,
    );
    if (o.systemd) await installSystemdStandIn(root);
    const sshd = await TestSshd.start({ root });
    const uid = Number(execFileSync('id', ['-u', sshd.user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', sshd.user], { encoding: 'utf8' }).trim());
    const home = (await root.run(['sh', '-c', 'getent passwd "$1" | cut -d: -f6', 'kds-home', sshd.user])).trim();
    // A CN administrator may become root (Technical Support Mode grants full sudo).
    await root.writeFile(`/etc/sudoers.d/kds-fresh-cn`, `${sshd.user} ALL=(ALL:ALL) NOPASSWD: ALL\n`, 0o440);
    return {
      root,
      sshd,
      user: { name: sshd.user, uid, gid, home },
      async setLibc(text) {
        if (text === undefined) await root.run(['rm', '-f', libcFlag]);
        else await root.writeFile(libcFlag, `${text}\n`);
      },
      async stop() {
        await sshd.dispose();
        await root.stop();
      },
    };
  } catch (err) {
    await root.stop();
    throw err;
  }
}
