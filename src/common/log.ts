import { closeSync, openSync, writeSync } from 'node:fs';
import { hasInvisibleControls, jsonWithVisibleControls } from './displayText';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Fields every log line may carry; the names are what administrators grep for. */
export interface LogFields {
  file?: string;
  scanId?: string;
  state?: string;
  size?: number;
  sha256?: string;
  durationMs?: number;
  [key: string]: unknown;
}

export interface LogRecord extends LogFields {
  time: string;
  level: LogLevel;
  event: string;
  msg: string;
}

export interface Logger {
  log(level: LogLevel, event: string, msg: string, fields?: LogFields): void;
  debug(event: string, msg: string, fields?: LogFields): void;
  info(event: string, msg: string, fields?: LogFields): void;
  warn(event: string, msg: string, fields?: LogFields): void;
  error(event: string, msg: string, fields?: LogFields): void;
}

export type LogSink = (record: LogRecord) => void;

export interface LoggerOptions {
  level?: LogLevel;
  sinks?: LogSink[];
}

/** Dispatches records to sinks; the sinks decide where and how they are written. */
export class KdsLogger implements Logger {
  private readonly sinks: LogSink[];
  level: LogLevel;

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? 'info';
    this.sinks = [...(options.sinks ?? [])];
  }

  addSink(sink: LogSink): () => void {
    this.sinks.push(sink);
    return () => {
      const i = this.sinks.indexOf(sink);
      if (i >= 0) this.sinks.splice(i, 1);
    };
  }

  log(level: LogLevel, event: string, msg: string, fields: LogFields = {}): void {
    if (rank[level] < rank[this.level]) return;
    const record: LogRecord = { time: new Date().toISOString(), level, event, msg, ...fields };
    for (const sink of this.sinks) {
      try {
        sink(record);
      } catch {
        // A broken sink (full disk, closed pipe) must never stop the scanner.
      }
    }
  }
  debug(event: string, msg: string, fields?: LogFields): void { this.log('debug', event, msg, fields); }
  info(event: string, msg: string, fields?: LogFields): void { this.log('info', event, msg, fields); }
  warn(event: string, msg: string, fields?: LogFields): void { this.log('warn', event, msg, fields); }
  error(event: string, msg: string, fields?: LogFields): void { this.log('error', event, msg, fields); }
}

/** A logger whose every line also carries `fields` (e.g. the share a part of the service works on). */
export function withFields(base: Logger, fields: LogFields): Logger {
  const log: Logger['log'] = (level, event, msg, more) => base.log(level, event, msg, { ...more, ...fields });
  return {
    log,
    debug: (event, msg, more) => log('debug', event, msg, more),
    info: (event, msg, more) => log('info', event, msg, more),
    warn: (event, msg, more) => log('warn', event, msg, more),
    error: (event, msg, more) => log('error', event, msg, more),
  };
}

const fieldOrder = ['file', 'scanId', 'state', 'size', 'sha256', 'durationMs'];

/**
 * One line per record. Values are JSON-quoted when they hold spaces, quotes or control
 * characters (C1, U+2028/2029 and bidi overrides escaped too), so a file name with a newline
 * cannot forge a second log line nor a terminal escape or right-to-left override hide its end.
 */
export function formatText(r: LogRecord): string {
  const parts = [r.time, r.level.toUpperCase().padEnd(5), r.event, quoteIfNeeded(r.msg)];
  const keys = Object.keys(r).filter((k) => !['time', 'level', 'event', 'msg'].includes(k));
  keys.sort((a, b) => order(a) - order(b));
  for (const k of keys) {
    const v = r[k];
    if (v === undefined) continue;
    parts.push(`${k}=${quoteIfNeeded(typeof v === 'string' ? v : JSON.stringify(v))}`);
  }
  return parts.join(' ');
}

function order(k: string): number {
  const i = fieldOrder.indexOf(k);
  return i < 0 ? 100 : i;
}

function quoteIfNeeded(s: string): string {
  return /^[^\s"\\\u0000-\u001f\u007f]*$/.test(s) && s !== '' && !hasInvisibleControls(s) ? s : jsonWithVisibleControls(s);
}

/** JSON, with C1 controls, line separators and bidi overrides escaped too (JSON.stringify leaves them raw). */
export function formatJson(r: LogRecord): string {
  return jsonWithVisibleControls(r);
}

/**
 * Appends to a log file; reopen() after logrotate moved it (SIGHUP). Each write(2) holds whole
 * lines, in order. With `coalesce`, the lines of one event-loop turn go out together at its end
 * (a busy service logs several lines per file); flush() writes them at once, and the owner calls
 * it on exit so that nothing said before a normal or fatal exit is lost.
 */
export class FileSink {
  private fd: number | undefined;
  private pending = '';
  private flushScheduled = false;
  constructor(
    readonly path: string,
    private readonly format: (r: LogRecord) => string,
    private readonly coalesce = false,
  ) {
    this.fd = openSync(path, 'a', 0o640);
  }
  readonly write: LogSink = (r) => {
    if (this.fd === undefined) return;
    if (!this.coalesce) {
      writeSync(this.fd, this.format(r) + '\n');
      return;
    }
    this.pending += this.format(r) + '\n';
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  };
  flush(): void {
    this.flushScheduled = false;
    if (!this.pending || this.fd === undefined) return;
    const data = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off);
  }
  reopen(): void {
    this.flush();
    const old = this.fd;
    this.fd = openSync(this.path, 'a', 0o640);
    if (old !== undefined) closeSync(old);
  }
  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export function streamSink(stream: NodeJS.WritableStream, format: (r: LogRecord) => string): LogSink {
  return (r) => {
    stream.write(format(r) + '\n');
  };
}
