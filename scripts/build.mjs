// Bundles the `kds` command (CLI, service, embedded KATA) into dist/ with esbuild.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { writeConfigValidator } from './configValidator.mjs';

const watch = process.argv.includes('--watch');
// `undici` means the parts of it the product uses (scripts/undiciSubset.cjs), not its index.js.
const undiciSubset = {
  name: 'undici-subset',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: fileURLToPath(new URL('./undiciSubset.cjs', import.meta.url)) }));
  },
};
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  // ssh2 ships optional native helpers; they must stay optional in every bundle.
  external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
  plugins: [undiciSubset],
};

// The config schema's validator as code, so no start compiles it (a stale one would be rewritten here).
if (writeConfigValidator()) console.log('src/engine/configValidator.generated.ts written again from schemas/kata_dir_scanner.schema.json');
// kds-run: `kds run` (the service) alone, so its every start parses ~1 MB of code rather than the whole CLI's ~3.6 MB (bin/kds.js picks it).
await build({ ...common, entryPoints: { kds: 'src/cli/main.ts', 'kds-run': 'src/cli/runMain.ts' }, outdir: 'dist' });
// ssh2 reaches Pageant on Windows through its pagent.exe, which it looks for at <bundle folder>/../util/.
mkdirSync('util', { recursive: true });
copyFileSync('node_modules/ssh2/util/pagent.exe', 'util/pagent.exe');
// The VS Code extension: everything bundled (vsce package --no-dependencies); 'vscode' is provided by the host.
await build({ ...common, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: 'dist', external: [...common.external, 'vscode'] });
// Capture analysis from VS Code runs in a child process with its own heap limit (src/capture/isolatedAnalysis.ts).
await build({ ...common, entryPoints: { captureAnalysis: 'src/capture/analysisProcess.ts' }, outdir: 'dist' });
// Webview panels (browser code): every webview/<panel>/main.ts becomes dist/webview/<panel>.js.
// webview/components and webview/shared are libraries, not panels (they have no main.ts).
const panels = readdirSync('webview', { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(`webview/${d.name}/main.ts`))
  .map((d) => d.name);
if (panels.length) {
  await build({
    entryPoints: Object.fromEntries(panels.map((p) => [p, `webview/${p}/main.ts`])),
    outdir: 'dist/webview',
    bundle: true,
    platform: 'browser',
    target: 'chrome114',
    format: 'iife',
    minify: true,
    sourcemap: false,
    logLevel: 'warning',
  });
}
if (watch) console.log('watch mode is not supported; run npm run build again');
