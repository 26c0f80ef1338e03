import { createRequire } from 'node:module';

/*
 * Loaded with --require by node.exe (test/integration/windowsUnderWine.test.ts): tests that check
 * POSIX facts Windows does not have are not registered at all, and each one left out is named on
 * stdout so the Linux side can tell them apart from tests that vanished or were renamed. Node 20
 * has no --test-skip-pattern, and its --test-name-pattern also matches a test's ancestors.
 */
const nodeTest = createRequire(__filename)('node:test') as { test: (...args: unknown[]) => unknown };
const posixOnly = new Set<string>(JSON.parse(process.env.KDS_WINE_POSIX_ONLY ?? '[]') as string[]);
const register = nodeTest.test;
nodeTest.test = (name: unknown, ...rest: unknown[]) => {
  if (typeof name === 'string' && posixOnly.has(name)) {
    process.stdout.write(`kds-wine-posix-only: ${name}\n`);
    return Promise.resolve();
  }
  return register(name, ...rest);
};
