import { statSync } from 'node:fs';
import { join } from 'node:path';
import { normaliseFingerprint } from '../pki/pemText';
import { readJsonFile, writeFileAtomic } from './atomicFile';

export type IntegrationState = 'pending' | 'accepted' | 'rejected';
export type Decision = 'accepted' | 'rejected';

/** One row of KATA's "External systems" table: a (sensorId, client certificate) pair. */
export interface IntegrationRequest {
  sensorId: string;
  /** SHA-256 of the client certificate as `AA:BB:…`. */
  fingerprint: string;
  /** Subject of the certificate, for the administrator's eyes only. */
  subject: string;
  remoteAddress: string;
  firstSeen: string;
  state: IntegrationState;
  decidedAt?: string;
}

interface SystemsFile {
  version: 1;
  systems: IntegrationRequest[];
}

export const SYSTEMS_FILE = 'systems.json';

/** `AA:BB:…` from any spelling, or undefined when it is not a SHA-256. */
export function canonicalFingerprint(text: string): string | undefined {
  const hex = normaliseFingerprint(text);
  return /^[0-9A-F]{64}$/.test(hex) ? hex.match(/../g)!.join(':') : undefined;
}

/**
 * The approvals, kept in `<data>/systems.json`. Both the server and `kds emulate approve|reject`
 * write that file (atomically), so the server re-reads it whenever its inode, size or mtime
 * changes: that is how a decision taken in the shell reaches a running server.
 */
export class SystemsRegistry {
  readonly path: string;
  private systems: IntegrationRequest[] = [];
  private stamp = '';
  private lock: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string) {
    this.path = join(dataDir, SYSTEMS_FILE);
  }

  list(): IntegrationRequest[] {
    return this.systems.map((s) => ({ ...s }));
  }

  /** Re-reads the file if someone else replaced it since we last looked. */
  async refresh(): Promise<void> {
    const stamp = this.currentStamp();
    if (stamp === this.stamp) return;
    const data = await readJsonFile<SystemsFile>(this.path);
    this.systems = Array.isArray(data?.systems) ? data.systems.filter(isRequest) : [];
    this.stamp = stamp;
  }

  /**
   * The state of the pair; an unknown pair becomes a new request (pending, or accepted at once
   * with auto-approve), like the first contact with KATA does.
   */
  async check(
    sensorId: string,
    fingerprint: string,
    seen: { subject: string; remoteAddress: string; autoApprove: boolean },
  ): Promise<{ state: IntegrationState; created: boolean }> {
    await this.refresh();
    const known = this.find(sensorId, fingerprint);
    if (known) return { state: known.state, created: false };
    return this.mutate(() => {
      const again = this.find(sensorId, fingerprint);
      if (again) return { state: again.state, created: false };
      const now = new Date().toISOString();
      const state: IntegrationState = seen.autoApprove ? 'accepted' : 'pending';
      this.systems.push({
        sensorId,
        fingerprint,
        subject: seen.subject,
        remoteAddress: seen.remoteAddress,
        firstSeen: now,
        state,
        ...(seen.autoApprove ? { decidedAt: now } : {}),
      });
      return { state, created: true };
    });
  }

  /**
   * Accepts or rejects. With a fingerprint: that pair (created if it was never seen, so a
   * certificate can be approved before its first use). Without: approving takes the pending
   * requests of the sensor, rejecting takes every request that is not rejected yet.
   */
  async decide(sensorId: string, fingerprint: string | undefined, decision: Decision): Promise<IntegrationRequest[]> {
    return this.mutate(() => {
      const now = new Date().toISOString();
      if (fingerprint !== undefined) {
        let row = this.find(sensorId, fingerprint);
        if (!row) {
          row = { sensorId, fingerprint, subject: '', remoteAddress: '', firstSeen: now, state: decision };
          this.systems.push(row);
        }
        row.state = decision;
        row.decidedAt = now;
        return [{ ...row }];
      }
      const rows = this.systems.filter((s) => s.sensorId === sensorId && (decision === 'accepted' ? s.state === 'pending' : s.state !== 'rejected'));
      for (const row of rows) {
        row.state = decision;
        row.decidedAt = now;
      }
      return rows.map((r) => ({ ...r }));
    });
  }

  private find(sensorId: string, fingerprint: string): IntegrationRequest | undefined {
    return this.systems.find((s) => s.sensorId === sensorId && s.fingerprint === fingerprint);
  }

  /** Read, change, write under one lock, starting from the file's latest content. */
  private mutate<T>(change: () => T): Promise<T> {
    const run = this.lock.then(async () => {
      await this.refresh();
      const result = change();
      const file: SystemsFile = { version: 1, systems: this.systems };
      await writeFileAtomic(this.path, JSON.stringify(file, null, 2) + '\n', 0o600);
      this.stamp = this.currentStamp();
      return result;
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Synchronous: it runs on every API request, and a stat is microseconds without the thread pool. */
  private currentStamp(): string {
    try {
      const st = statSync(this.path);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'absent';
    }
  }
}

function isRequest(x: unknown): x is IntegrationRequest {
  const r = x as IntegrationRequest;
  return !!r && typeof r.sensorId === 'string' && typeof r.fingerprint === 'string' && ['pending', 'accepted', 'rejected'].includes(r.state);
}
