/**
 * The EICAR test file, assembled in memory only when a probe sends it. Kept in pieces so this
 * source file and the bundle never hold the whole string, which a workstation antivirus would
 * quarantine; the probe never writes it to disk.
 */
const parts = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-', 'ANTIVIRUS-TEST-FILE!$H+H*'];

export function probeEicar(): Buffer {
  return Buffer.from(parts.join(''), 'latin1');
}
