/** The 68-byte EICAR anti-malware test string. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

const eicarBytes = Buffer.from(EICAR, 'latin1');

/** The standard allows the file to be padded to at most this length. */
export const EICAR_MAX_FILE_SIZE = 128;

// Space, tab, LF, CR and Ctrl-Z: the only bytes the standard allows after the string.
const padding = new Set([0x20, 0x09, 0x0a, 0x0d, 0x1a]);

/**
 * The rule of eicar.org: the file starts with the string, may be followed only by white space,
 * and is at most 128 bytes long. Anything else (the string inside a bigger file, or followed by
 * other bytes) is not the test file, and real engines do not report it.
 */
export function isEicarTestFile(content: Uint8Array): boolean {
  if (content.length < eicarBytes.length || content.length > EICAR_MAX_FILE_SIZE) return false;
  for (let i = 0; i < eicarBytes.length; i++) if (content[i] !== eicarBytes[i]) return false;
  for (let i = eicarBytes.length; i < content.length; i++) if (!padding.has(content[i]!)) return false;
  return true;
}
