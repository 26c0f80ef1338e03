import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { waitFor } from './engineHarness';
import { freePort } from './sshd';

export const prometheusBin = '/usr/bin/prometheus';
export const promtoolBin = '/usr/bin/promtool';

/** Debian's prometheus package (scripts/install-system-deps.sh): skipped without it outside CI; under CI=true that is a failure. */
export function needPrometheus(t: TestContext): boolean {
  if (existsSync(prometheusBin) && existsSync(promtoolBin)) return true;
  const why = `${prometheusBin} or ${promtoolBin} is missing: run scripts/install-system-deps.sh as root (prometheus)`;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}

/** GET on 127.0.0.1: status and body. */
export function httpGet(opts: { port?: number; socketPath?: string; path: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', ...opts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface RunningPrometheus {
  port: number;
  child: ChildProcess;
  /** An instant query through Prometheus's HTTP API. */
  query(q: string): Promise<PromSample[]>;
  stop(): Promise<void>;
}

/**
 * A private Prometheus on 127.0.0.1 (free port, its own storage under `dir`) scraping `targets`
 * every second; stopped by its pid.
 */
export async function startPrometheus(dir: string, targets: string[]): Promise<RunningPrometheus> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', '  - job_name: kds', '    static_configs:', `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`, ''].join('\n'),
  );
  const child = spawn(prometheusBin, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
  };
  try {
    await waitFor(`prometheus ready (${stderr})`, async () => (await httpGet({ port, path: '/-/ready' }).catch(() => ({ status: 0 }))).status === 200, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    child,
    stop,
    async query(q: string): Promise<PromSample[]> {
      const r = await httpGet({ port, path: `/api/v1/query?query=${encodeURIComponent(q)}` });
      const body = JSON.parse(r.body) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      if (body.status !== 'success') throw new Error(`query ${q}: ${r.body}`);
      return body.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
    },
  };
}
