import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { t } from './l10n';

/** Where a listener binds: a TCP address and port, or a Unix socket path. */
export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** Longest Unix socket path the kernel takes (sun_path is 108 bytes with its NUL). */
const maxSocketPathBytes = 107;

/**
 * Reads `metrics_listen`: "9464" (127.0.0.1 only: a bare port never opens the endpoint to the
 * network by surprise), "host:port", "[v6]:port", or an absolute path (a Unix socket). Returns
 * the reason in English when the text is none of these; '' is not an address (the caller's "off").
 */
export function parseListenAddress(text: string): ListenAddress | { problem: string } {
  const s = text.trim();
  if (s.startsWith('/')) {
    if (!isAbsolute(s) || s.endsWith('/')) return { problem: t('a Unix socket path must be the absolute path of a file') };
    if (Buffer.byteLength(s) > maxSocketPathBytes) return { problem: t('a Unix socket path may be at most {0} bytes long', maxSocketPathBytes) };
    return { kind: 'unix', path: s };
  }
  let host = '127.0.0.1';
  let portText = s;
  const v6 = /^\[([^\]]+)\]:([0-9]+)$/.exec(s);
  if (v6) {
    if (isIP(v6[1]!) !== 6) return { problem: t('{0} is not an IPv6 address', v6[1]!) };
    host = v6[1]!;
    portText = v6[2]!;
  } else if (s.includes(':')) {
    const at = s.lastIndexOf(':');
    host = s.slice(0, at);
    portText = s.slice(at + 1);
    if (host.includes(':')) return { problem: t('an IPv6 address goes in brackets: [::1]:9464') };
    if (!/^[A-Za-z0-9_.-]+$/.test(host)) return { problem: t('{0} is not a host name or IP address', host) };
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return { problem: t('give a port, an address and port, or the absolute path of a Unix socket') };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { problem: t('the port must be from 1 to 65535 (got {0})', port) };
  return { kind: 'tcp', host, port };
}

/** The address as one would write it in metrics_listen (IPv6 in brackets). */
export function formatListenAddress(a: ListenAddress): string {
  if (a.kind === 'unix') return a.path;
  return `${isIP(a.host) === 6 ? `[${a.host}]` : a.host}:${a.port}`;
}
