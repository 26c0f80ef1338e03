/**
 * One line of the log as the viewer shows it. Plain data (numbers, strings, booleans): it can be
 * posted to a webview as is.
 */
export interface IcapLogLine {
  /** Byte offset of the line's first byte in the file: its stable id (until rotation). */
  offset: number;
  /** Bytes of the line in the file, terminator included: the next line starts at offset + byteLength. */
  byteLength: number;
  /** Decoded text without the terminator; invalid UTF-8 shows as U+FFFD; cut when `truncated`. */
  text: string;
  /** The terminator in the file: '' for a last line still being written. */
  eol: '' | '\n' | '\r\n';
  /** `text` holds only the first maxDisplayBytes bytes of a longer line. */
  truncated?: boolean;
  /** The last line of the file has no newline yet; a later line with the same offset replaces it. */
  partial?: boolean;
  /** 1-based line number, only where the lines before it were counted (pages read from the start). */
  lineNo?: number;
}

/** Page size defaults. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024;
/** Bytes of one line decoded for display. */
export const DEFAULT_MAX_DISPLAY_BYTES = 16 * 1024;
/** Bytes of one line a filter looks at (lines longer than this are matched on this prefix). */
export const DEFAULT_MAX_MATCH_BYTES = 16 * 1024 * 1024;

/** n, or less so that `buf[0, n)` does not end inside a UTF-8 sequence (needs no byte after n). */
export function utf8SafeLength(buf: Buffer, n: number): number {
  const end = Math.min(n, buf.length);
  for (let j = end - 1; j >= 0 && j >= end - 4; j--) {
    const b = buf[j]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const len = b < 0x80 ? 1 : (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 1;
    return j + len > end ? j : end;
  }
  return end;
}

/**
 * Build a line from its content bytes (without the terminator; may be a prefix of the content when
 * the line is longer than `contentLength`).
 */
export function makeLine(
  offset: number,
  content: Buffer,
  contentLength: number,
  eol: IcapLogLine['eol'],
  maxDisplayBytes: number,
): IcapLogLine {
  const shown = contentLength > maxDisplayBytes ? utf8SafeLength(content, maxDisplayBytes) : Math.min(content.length, contentLength);
  const line: IcapLogLine = {
    offset,
    byteLength: contentLength + eol.length,
    text: content.toString('utf8', 0, shown),
    eol,
  };
  if (shown < contentLength) line.truncated = true;
  return line;
}
