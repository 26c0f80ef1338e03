import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as tls from 'node:tls';
import { createCa, createSelfSigned, issueServerCert } from '../../src/pki/certs';
import { fingerprint256, normaliseFingerprint, splitPem } from '../../src/pki/pemText';

test('self-signed client certificate: RSA 2048, CN, validity, fingerprint', async () => {
  const kc = await createSelfSigned({ commonName: 'kds-sensor', days: 30 });
  const cert = new X509Certificate(kc.certPem);
  assert.match(cert.subject, /CN=kds-sensor/);
  assert.equal(createPrivateKey(kc.keyPem).asymmetricKeyDetails?.modulusLength, 2048);
  assert.ok(cert.checkPrivateKey(createPrivateKey(kc.keyPem)));
  const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 29 && days < 31, `validity ${days}`);
  assert.equal(kc.fingerprint256, cert.fingerprint256);
  assert.match(kc.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test('CA-issued server certificate verifies against the CA with its SANs', async () => {
  const ca = await createCa({ commonName: 'KDS test CA', days: 10 });
  const srv = await issueServerCert(ca, { commonName: 'localhost', days: 10, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  const cert = new X509Certificate(srv.certPem);
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
  assert.equal(cert.checkHost('localhost'), 'localhost');
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(tls.checkServerIdentity('localhost', { subject: { CN: 'localhost' }, subjectaltname: cert.subjectAltName } as tls.PeerCertificate), undefined);
  assert.equal(cert.ca, false);
  assert.equal(new X509Certificate(ca.certPem).ca, true);
});

test('splitPem finds certificate and key in one file (cat server.crt server.key > cert.pem)', async () => {
  const kc = await createSelfSigned({ commonName: 'x', days: 1 });
  const both = splitPem(kc.certPem + kc.keyPem);
  assert.equal(both.certificates.length, 1);
  assert.ok(both.privateKey?.includes('PRIVATE KEY'));
  assert.equal(fingerprint256(both.certificates[0]!), kc.fingerprint256);
  assert.deepEqual(splitPem('garbage'), { certificates: [] });
});

test('normaliseFingerprint accepts the usual spellings', () => {
  assert.equal(normaliseFingerprint('ab:cd:EF'), 'ABCDEF');
  assert.equal(normaliseFingerprint('SHA256:ab cd ef'), 'ABCDEF');
});
