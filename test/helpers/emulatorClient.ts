import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, FormData, request } from 'undici';
import { createSelfSigned, type KeyAndCert } from '../../src/pki/certs';
import type { RunningEmulator } from '../../src/emulator/server';

export const API = '/kata/scanner/v1/sensors/';

export interface TestClient {
  agent: Agent;
  cert: KeyAndCert;
}

/** A KATA client identity: a fresh self-signed certificate and an agent that trusts the emulator's CA. */
export async function newClient(emu: RunningEmulator, commonName = 'kds-test'): Promise<TestClient> {
  const cert = await createSelfSigned({ commonName, days: 2 });
  return { cert, agent: new Agent({ connect: { ca: emu.caPem, cert: cert.certPem, key: cert.keyPem } }) };
}

/** An agent with no client certificate at all. */
export function anonymousAgent(emu: RunningEmulator): Agent {
  return new Agent({ connect: { ca: emu.caPem } });
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export async function call(
  emu: RunningEmulator,
  agent: Agent,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  opts: { body?: FormData | string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const res = await request(emu.url + path, { method, dispatcher: agent, body: opts.body, headers: opts.headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

export function scanForm(fields: { scanId?: string; objectType?: string; content?: Buffer | string; fileName?: string }): FormData {
  const form = new FormData();
  if (fields.scanId !== undefined) form.append('scanId', fields.scanId);
  form.append('objectType', fields.objectType ?? 'file');
  if (fields.content !== undefined) form.append('content', new Blob([fields.content]), fields.fileName ?? 'sample.bin');
  return form;
}

export async function postScan(
  emu: RunningEmulator,
  client: TestClient,
  sensorId: string,
  fields: { scanId?: string; objectType?: string; content?: Buffer | string; fileName?: string; sensorInstanceId?: string },
): Promise<Reply> {
  const q = fields.sensorInstanceId ? `?sensorInstanceId=${encodeURIComponent(fields.sensorInstanceId)}` : '';
  return call(emu, client.agent, 'POST', `${API}${encodeURIComponent(sensorId)}/scans${q}`, { body: scanForm(fields) });
}

/** Polls `probe` until it returns something other than undefined; fails after `deadlineMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, deadlineMs = 10_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  let pause = 20;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 200);
  }
}

/** The final state of one scan, read through the API like a client would. */
export async function finalState(emu: RunningEmulator, client: TestClient, sensorId: string, scanId: string): Promise<string> {
  return waitFor(`a verdict for ${scanId}`, async () => {
    const r = await call(emu, client.agent, 'GET', `${API}${encodeURIComponent(sensorId)}/scans/state`);
    if (r.status !== 200) return undefined;
    const list = JSON.parse(r.text) as Array<{ scanId: string | number; state: string[] }>;
    const found = list.find((s) => String(s.scanId) === scanId);
    return found && found.state[0] !== 'processing' ? found.state[0] : undefined;
  });
}

/** A fresh folder for one emulator's data, removed by the caller. */
export async function tempDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kds-emulator-test-'));
}

/** Copies CA and server certificate into `to`, so a second emulator skips the RSA key generation. */
export async function seedTls(from: string, to: string): Promise<void> {
  for (const name of ['ca.pem', 'ca.key', 'server.pem', 'server.key']) await copyFile(join(from, name), join(to, name));
}
