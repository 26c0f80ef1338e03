import { X509Certificate } from 'node:crypto';

// Reading certificate texts needs no X.509 builder: these helpers stay apart from certs.ts, whose
// library (@peculiar/x509) costs a seventh of a second to load, so `kds run` starts without it.

/** SHA-256 fingerprint of a PEM or DER certificate as `AA:BB:…` (the form KATA and browsers show). */
export function fingerprint256(cert: string | Buffer): string {
  return new X509Certificate(cert).fingerprint256;
}

/** Accepts `AA:BB:…`, `aabb…` or with spaces; returns upper-case hex without separators. */
export function normaliseFingerprint(text: string): string {
  return text.replace(/^sha256[:/]/i, '').replace(/[^0-9a-f]/gi, '').toUpperCase();
}

export interface PemBundle {
  certificates: string[];
  privateKey?: string;
}

/**
 * Splits a PEM file into certificates and a private key. The original set-up builds cert.pem
 * with `cat server.crt server.key`, so one file may hold both.
 */
export function splitPem(text: string): PemBundle {
  const blocks = text.match(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g) ?? [];
  const out: PemBundle = { certificates: [] };
  for (const block of blocks) {
    if (/^-----BEGIN (TRUSTED )?CERTIFICATE-----/.test(block)) out.certificates.push(block + '\n');
    else if (/^-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(block) && !out.privateKey) out.privateKey = block + '\n';
  }
  return out;
}
