/**
 * By hand, what test/e2e/locale.e2e.ts does: code-server with the packaged .vsix and the stand-in
 * Russian language pack, started with --locale ru on a free port of 127.0.0.1, until Ctrl-C.
 *
 *   node --import tsx test/e2e/support/russianCodeServer.ts [FOLDER]
 *
 * Needs `bash scripts/setup-e2e.sh && npm run package` first (docs/testing.md, "Seeing it by hand").
 */
import { resolve } from 'node:path';
import { freshDir, prerequisites, removeDir, startCodeServer } from './codeServer';

async function main(): Promise<void> {
  const { missing } = prerequisites();
  const needed = missing.filter((m) => !m.includes('chromium'));
  if (needed.length) throw new Error(`missing: ${needed.join('; ')} — run bash scripts/setup-e2e.sh && npm run package`);
  const folder = resolve(process.argv[2] ?? process.cwd());
  const base = freshDir('kds-ru-by-hand-');
  const cs = await startCodeServer(base, { locale: 'ru', languagePackStub: true });
  process.stdout.write(`KDS in Russian (KDS's strings; VS Code's own stay English): ${cs.folderUrl(folder)}\nCtrl-C stops code-server.\n`);
  const stop = () => {
    void cs.stop().finally(() => {
      removeDir(base);
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
