// The bundler inlines only this field of package.json, so the version is right in dist/, in the
// single executable on a Central Node and under tsx alike.
import { version } from '../../package.json';

/** The KDS version, from package.json: the one source every `--version`, log and bundle uses. */
export const kdsVersion: string = version;
