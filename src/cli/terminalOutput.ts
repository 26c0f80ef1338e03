import { StringDecoder } from 'node:string_decoder';
import { Transform } from 'node:stream';
import { terminalText } from '../common/displayText';
import type { CommandIo } from './command';

/**
 * Output of commands that print what others wrote (an ICAP server's headers, a capture, KATA's
 * logs): every write goes through the visible-text escaping, whatever message it is part of, so
 * a new message cannot forget it. JSON stays valid with the same values.
 */
export function escapedIo(io: CommandIo): CommandIo {
  return { out: (text) => io.out(terminalText(text)), err: (text) => io.err(terminalText(text)) };
}

/** The same for a byte stream (a remote `tail -F`): UTF-8 decoded across chunk boundaries, escaped, encoded again. */
export function escapingStream(): Transform {
  const decoder = new StringDecoder('utf8');
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      done(null, Buffer.from(terminalText(decoder.write(chunk)), 'utf8'));
    },
    flush(done) {
      done(null, Buffer.from(terminalText(decoder.end()), 'utf8'));
    },
  });
}
