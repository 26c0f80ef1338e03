import type { RemoteFacts } from '../../src/centralNode/setupPlan';

/** What the set-up finds on a ready Central Node (root, systemd, mount.cifs, Node.js 20), with a test's changes. */
export const remoteFacts = (over: Partial<RemoteFacts> = {}): RemoteFacts => ({
  os: 'Linux',
  arch: 'x86_64',
  nodeVersion: 'v20.11.1',
  nodePath: '/usr/bin/node',
  isRoot: true,
  hasMountCifs: true,
  hasSystemd: true,
  fstab: 'UUID=abc / ext4 defaults 0 1\n',
  hasConfig: false,
  hasExcludeList: false,
  hasCertificate: false,
  ...over,
});
