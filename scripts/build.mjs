// Bundles the `kds` command (CLI, service, embedded KATA) into dist/ with esbuild.
import { build } from 'esbuild';

const watch = process.argv.includes('--watch');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  // ssh2 ships optional native helpers; they must stay optional in every bundle.
  external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
};

await build({ ...common, entryPoints: { kds: 'src/cli/main.ts' }, outdir: 'dist' });
// The VS Code extension: everything bundled (vsce package --no-dependencies); 'vscode' is provided by the host.
await build({ ...common, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: 'dist', external: [...common.external, 'vscode'] });
if (watch) console.log('watch mode is not supported; run npm run build again');
