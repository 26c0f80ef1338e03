import { dispatch } from './dispatch';

/**
 * `kds run`, the service, from a bundle of its own (dist/kds-run.js; bin/kds.js picks it for
 * `run`): the engine without the other commands' code (SSH, ICAP, capture analysis, the support
 * bundle, the embedded KATA), which the whole CLI's bundle made every start parse.
 */
export function main(argv: string[]): Promise<number> {
  return dispatch(argv, { run: () => import('./runCommand') });
}
