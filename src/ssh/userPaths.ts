import { homedir } from 'node:os';
import { join, win32 } from 'node:path';
import { hostPlatform, type Platform } from '../common/platform';

export interface UserPathContext {
  home: string;
  env: NodeJS.ProcessEnv;
  platform: Platform;
}

const here = (): UserPathContext => ({ home: homedir(), env: process.env, platform: hostPlatform });

/**
 * A path from a setting such as kds.remote.identityFile, the way its user writes it: `~` and
 * `~/…` (also `~\…` on Windows) are the home folder, and on Windows `%NAME%` is that environment
 * variable (`%USERPROFILE%\.ssh\id_ed25519`), found without regard to case; an unknown one stays
 * as written.
 */
export function expandUserPath(p: string, c: UserPathContext = here()): string {
  const windows = c.platform.os === 'win32';
  let out = p;
  if (out === '~') out = c.home;
  else if (out.startsWith('~/') || (windows && out.startsWith('~\\'))) out = (windows ? win32.join : join)(c.home, out.slice(2));
  if (windows) {
    out = out.replace(/%([^%\\/]+)%/g, (whole, name: string) => {
      const key = Object.keys(c.env).find((k) => k.toLowerCase() === name.toLowerCase());
      return key !== undefined && c.env[key] ? c.env[key]! : whole;
    });
  }
  return out;
}
