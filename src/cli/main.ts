import { type CommandLoader, dispatch } from './dispatch';

// Loaded on demand so `kds emulate` does not pay for the engine and the other way round.
// Each sub-command adds its line here.
const commands: Record<string, CommandLoader> = {
  check: () => import('./checkCommand'),
  enroll: () => import('./enrollCommand'),
  emulate: () => import('./emulateCommand'),
  cert: () => import('./certCommand'),
  service: () => import('./serviceCommand'),
  run: () => import('./runCommand'),
  status: () => import('./statusCommand'),
  demo: () => import('./demoCommand'),
  remote: () => import('./remoteCommand'),
  fleet: () => import('./fleetCommand'),
  quarantine: () => import('./quarantineCommand'),
  icap: () => import('./icapCommand'),
  capture: () => import('./captureCommand'),
  // support (issue 11): KATA's own logs and the support-request bundle
  'kata-logs': () => import('./kataLogsCommand'),
  collect: () => import('./collectCommand'),
  'support-bundle': () => import('./supportBundleCommand'),
};

export function main(argv: string[]): Promise<number> {
  return dispatch(argv, commands);
}
