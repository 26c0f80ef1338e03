/**
 * Names an SMB share or a Windows folder refuses: the characters `\ : * ? " < > |` and control
 * characters, a trailing dot or space, and the DOS device names (CON, PRN, AUX, NUL, COM1–9,
 * LPT1–9, with any extension). Through Samba such a name fails with EIO or EINVAL, or is shown
 * to SMB clients as a mangled 8.3 name (`TZHRWN~N`) — so KDS delivers those files under a name
 * with each refused character replaced by `_`, and says so in the log.
 */
const refusedChars = /[\\:*?"<>|\x00-\x1f]/g;
const deviceName = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$/i;

/** `name` as a folder with Windows' naming rules accepts it; the same name when it already does. */
export function portableName(name: string): string {
  let out = name.replace(refusedChars, '_');
  out = out.replace(/[. ]+$/, (tail) => '_'.repeat(tail.length));
  if (deviceName.test(out)) out = `_${out}`;
  return out;
}
