// What an x86-64 ELF executable asks of the system that runs it, read from the file itself
// rather than from release notes: the libraries it links (DT_NEEDED), the highest symbol version
// it needs from each (GLIBC_2.28, GLIBCXX_3.4.21, … in .gnu.version_r, as `objdump -T` lists
// them), and the oldest kernel its C library start-up accepts (the NT_GNU_ABI_TAG note,
// `file` prints it as "for GNU/Linux 3.2.0"). build-service.mjs records the result beside the
// engine, and the set-up compares it with what the Central Node has.

const SHT_NOTE = 7;
const SHT_DYNAMIC = 6;
const SHT_GNU_VERNEED = 0x6ffffffe;
const DT_NEEDED = 1;
const NT_GNU_ABI_TAG = 1;

function cstring(buf, at) {
  const end = buf.indexOf(0, at);
  return buf.toString('latin1', at, end < 0 ? buf.length : end);
}

/** Compares dotted versions numerically: 2.9 < 2.28. */
export function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * @param {Buffer} buf the whole file
 * @returns {{ machine: 'x86-64', needed: string[], versions: Record<string, string>, kernel?: string }}
 *   versions: the highest version needed per prefix (GLIBC, GLIBCXX, CXXABI, GCC).
 */
export function elfRequirements(buf) {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const machine = buf.readUInt16LE(18);
  if (machine !== 62) throw new Error(`not an x86-64 ELF file (e_machine ${machine})`);
  const shoff = Number(buf.readBigUInt64LE(40));
  const shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize;
    sections.push({
      type: buf.readUInt32LE(at + 4),
      offset: Number(buf.readBigUInt64LE(at + 24)),
      size: Number(buf.readBigUInt64LE(at + 32)),
      link: buf.readUInt32LE(at + 40),
      info: buf.readUInt32LE(at + 44),
    });
  }
  const needed = [];
  const versions = {};
  let kernel;
  for (const s of sections) {
    if (s.type === SHT_DYNAMIC) {
      const strtab = sections[s.link];
      for (let at = s.offset; at + 16 <= s.offset + s.size; at += 16) {
        const tag = buf.readBigInt64LE(at);
        if (tag === 0n) break;
        if (tag === BigInt(DT_NEEDED)) needed.push(cstring(buf, strtab.offset + Number(buf.readBigUInt64LE(at + 8))));
      }
    } else if (s.type === SHT_GNU_VERNEED) {
      const strtab = sections[s.link];
      let at = s.offset;
      for (let n = 0; n < s.info; n++) {
        const count = buf.readUInt16LE(at + 2);
        let aux = at + buf.readUInt32LE(at + 8);
        for (let k = 0; k < count; k++) {
          const name = cstring(buf, strtab.offset + buf.readUInt32LE(aux + 8));
          const m = /^([A-Z]+)_([0-9.]+)$/.exec(name);
          if (m && (!versions[m[1]] || compareVersions(m[2], versions[m[1]]) > 0)) versions[m[1]] = m[2];
          aux += buf.readUInt32LE(aux + 12);
        }
        const next = buf.readUInt32LE(at + 12);
        if (!next) break;
        at += next;
      }
    } else if (s.type === SHT_NOTE && kernel === undefined) {
      let at = s.offset;
      while (at + 12 <= s.offset + s.size) {
        const namesz = buf.readUInt32LE(at);
        const descsz = buf.readUInt32LE(at + 4);
        const type = buf.readUInt32LE(at + 8);
        const name = buf.toString('latin1', at + 12, at + 12 + Math.max(0, namesz - 1));
        const desc = at + 12 + ((namesz + 3) & ~3);
        if (name === 'GNU' && type === NT_GNU_ABI_TAG && descsz >= 16 && buf.readUInt32LE(desc) === 0) {
          kernel = [1, 2, 3].map((i) => buf.readUInt32LE(desc + 4 * i)).join('.');
          break;
        }
        at = desc + ((descsz + 3) & ~3);
      }
    }
  }
  return { machine: 'x86-64', needed, versions, ...(kernel !== undefined && { kernel }) };
}
