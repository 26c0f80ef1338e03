import type { EventFileReader } from './eventFollower';
import type { SftpFiles } from '../ssh/sftpFiles';

/** What the reader needs of a session: SshSession, or the current one of a ReconnectingSession. */
export interface SftpSource {
  sftp(): Promise<SftpFiles>;
  onClose(listener: (err?: Error) => void): () => void;
}

/**
 * The event stream read over SFTP. `session` gives the connected session (for a
 * ReconnectingSession: `() => rs.whenConnected()`); one SFTP channel is kept per session and
 * dropped when the session closes, so after a reconnect the next read opens a new one and the
 * follower resumes where it stopped.
 */
export function sftpEventFileReader(session: () => Promise<SftpSource>): EventFileReader {
  let cached: { source: SftpSource; sftp: Promise<SftpFiles> } | undefined;
  const files = async (): Promise<SftpFiles> => {
    const source = await session();
    if (cached?.source !== source) {
      const sftp = source.sftp();
      const entry = { source, sftp };
      cached = entry;
      source.onClose(() => {
        if (cached === entry) cached = undefined;
      });
      sftp.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.sftp;
  };
  return {
    async size(path) {
      const sftp = await files();
      const st = await sftp.exists(path);
      if (!st) return undefined;
      return st.type === 'symlink' ? (await sftp.stat(path)).size : st.size;
    },
    async read(path, offset, length) {
      if (length <= 0) return Buffer.alloc(0);
      const sftp = await files();
      const stream = sftp.createReadStream(path, { start: offset, end: offset + length - 1 });
      const chunks: Buffer[] = [];
      let got = 0;
      for await (const c of stream) {
        chunks.push(c as Buffer);
        got += (c as Buffer).length;
        if (got >= length) break;
      }
      stream.destroy();
      return Buffer.concat(chunks).subarray(0, length);
    },
  };
}
