import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/**
 * The folder holding package.json, l10n/ and schemas/. Found by walking up because the same
 * code runs from src/ (tests through tsx), from dist/ (bundled) and from /opt on a Central Node.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'l10n')) && existsSync(join(dir, 'schemas'))) return (cached = dir);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return (cached = __dirname);
}
