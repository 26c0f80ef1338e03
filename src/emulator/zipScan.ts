import { unzipSync } from 'fflate';
import { EICAR_MAX_FILE_SIZE, isEicarTestFile } from './eicar';

/**
 * Bounds of the archive look-inside, so that a ZIP bomb costs at most a few tens of MiB and
 * milliseconds. Entries or archives beyond them are skipped, not flagged.
 */
export const zipLimits = Object.freeze({
  /** Larger archives (outer or nested) are not opened at all. */
  maxArchiveBytes: 32 * 1024 * 1024,
  /** Entries whose declared uncompressed size is larger are skipped. */
  maxEntryBytes: 8 * 1024 * 1024,
  /** Sum of the declared uncompressed sizes extracted from one archive. */
  maxTotalBytes: 64 * 1024 * 1024,
  /** Entries looked at per archive. */
  maxEntries: 1000,
  /** 1 = the submitted archive, 2 = an archive inside it; deeper ones are not opened. */
  maxDepth: 2,
});

export function looksLikeZip(content: Uint8Array): boolean {
  return content.length >= 22 && content[0] === 0x50 && content[1] === 0x4b && (content[2] === 0x03 || content[2] === 0x05);
}

/** The path (inside the archive) of the first EICAR test file found, or undefined. */
export function findEicarInZip(archive: Uint8Array, depth = 1): string | undefined {
  if (depth > zipLimits.maxDepth || archive.length > zipLimits.maxArchiveBytes || !looksLikeZip(archive)) return undefined;
  let seen = 0;
  let budget = zipLimits.maxTotalBytes;
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(archive, {
      filter(file) {
        if (++seen > zipLimits.maxEntries) return false;
        // fflate writes at most originalSize bytes, so the declared size is a real bound.
        if (file.originalSize > zipLimits.maxEntryBytes || file.originalSize > budget) return false;
        if (file.compression !== 0 && file.compression !== 8) return false;
        // At the last level only a possible test file is worth extracting; above it, any entry may be an archive.
        if (file.originalSize > EICAR_MAX_FILE_SIZE && depth >= zipLimits.maxDepth) return false;
        budget -= file.originalSize;
        return true;
      },
    });
  } catch {
    // Damaged or encrypted archives are simply not looked into.
    return undefined;
  }
  for (const [name, data] of Object.entries(entries)) {
    if (isEicarTestFile(data)) return name;
  }
  if (depth < zipLimits.maxDepth) {
    for (const [name, data] of Object.entries(entries)) {
      if (!looksLikeZip(data)) continue;
      const inner = findEicarInZip(data, depth + 1);
      if (inner !== undefined) return `${name}/${inner}`;
    }
  }
  return undefined;
}
