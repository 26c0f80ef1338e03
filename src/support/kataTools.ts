import { t } from '../common/l10n';
import { type HostAccess, LocalHostAccess, findTrustedTool } from './hostAccess';

/** Folders where KATA installations keep their own command-line tools, besides the system ones. */
export const KATA_TOOL_DIRS = ['/opt/kaspersky/kata/bin', '/opt/kaspersky/apt/bin', '/opt/kaspersky/bin'];

/** KATA's tool is not on the host: say so and what to check, never pretend it ran. */
export class MissingKataTool extends Error {
  override name = 'MissingKataTool';
  constructor(
    readonly tool: string,
    readonly where: string,
  ) {
    super(
      t(
        '{0} was not found on {1}. It is KATA\'s own tool and exists only on a KATA Central Node (or Sensor). Check that {1} is a KATA Central Node, which KATA version it runs (the tool is part of KATA 5.x and later), and that you are connected to the Central Node and not to another host.',
        tool,
        where,
      ),
    );
  }
}

export class KataToolFailed extends Error {
  override name = 'KataToolFailed';
}

/**
 * Folders named in KDS_KATA_TOOL_DIRS (colon-separated, absolute) for this computer: where a KATA
 * installation keeps its tools outside the usual folders. VS Code's extension host takes PATH
 * from the login shell, so an environment variable is the one way to point it elsewhere (the
 * e2e tests point it at the stand-ins).
 */
export function localToolDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.KDS_KATA_TOOL_DIRS ?? '').split(':').filter((d) => d.startsWith('/') && !d.split('/').includes('..'));
}

/** Absolute path of a KATA tool root may run (findTrustedTool), or MissingKataTool / KataToolFailed saying why. */
export async function kataTool(host: HostAccess, name: string): Promise<string> {
  const found = await findTrustedTool(host, name, [...(host instanceof LocalHostAccess ? localToolDirs() : []), ...KATA_TOOL_DIRS]);
  if (found.path) return found.path;
  if (found.refused.length) {
    throw new KataToolFailed(t('{0} was found on {1} only where root must not run it from: {2}. KDS runs KATA\'s tools as root only from folders that root alone can change.', name, host.where, found.refused.join('; ')));
  }
  throw new MissingKataTool(name, host.where);
}
