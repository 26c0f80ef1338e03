/** One record of a capture file, whatever its format. */
export interface CapturedPacket {
  /** 1-based, as Wireshark numbers frames. */
  number: number;
  /** Seconds since the epoch (microsecond precision or better). */
  time: number;
  linkType: number;
  /** The captured bytes (possibly fewer than the packet had: see originalLength). */
  data: Buffer;
  originalLength: number;
  /** The file ended inside this record (as opposed to a snaplen cut). */
  truncatedInFile?: boolean;
}

/** Something wrong with the file itself, reported beside whatever could be read. */
export interface CaptureProblem {
  code: 'empty' | 'not-a-capture' | 'truncated-record' | 'bad-record' | 'snaplen-cut' | 'unsupported-link-type' | 'unsupported-block' | 'bad-time';
  message: string;
}
