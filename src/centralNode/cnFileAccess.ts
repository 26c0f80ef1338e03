import { posix } from 'node:path';
import { t } from '../common/l10n';

/**
 * What the `kds-cn:` file system may open on a Central Node. It reads and writes as root when
 * the SSH user cannot (sudo with the stored password, without asking again), so it is limited to
 * the files KDS itself edits there: the service's configuration and its exclude list. Any other
 * path — /etc/shadow, a key, a path with `..`, a link another extension or a workspace file hands
 * to VS Code — is refused before anything reaches the CN.
 */
export type CnFileKind = 'config' | 'exclude';

export interface CnEditableFiles {
  configPath: string;
  /** The exclude_list of every share of the CN's configuration, when it is known. */
  excludeLists?: readonly string[];
}

export class CnFileRefused extends Error {
  constructor(readonly path: string) {
    super(t('KDS opens only the configuration and the exclude list on the Central Node; {0} is refused.', path));
    this.name = 'CnFileRefused';
  }
}

/** The kind of an editable file, or undefined. `path` is compared exactly, after refusing anything not already normal. */
export function cnFileKind(path: string, files: CnEditableFiles): CnFileKind | undefined {
  if (!path.startsWith('/') || path.includes('\0') || posix.normalize(path) !== path || path.endsWith('/')) return undefined;
  if (path === posix.normalize(files.configPath)) return 'config';
  if (files.excludeLists?.some((list) => path === posix.normalize(list))) return 'exclude';
  return undefined;
}

/** cnFileKind or CnFileRefused. */
export function requireCnFile(path: string, files: CnEditableFiles): CnFileKind {
  const kind = cnFileKind(path, files);
  if (!kind) throw new CnFileRefused(path);
  return kind;
}
