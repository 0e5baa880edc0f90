import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../helpers/free-port.ts';
import { waitFor } from '../helpers/wait-for.ts';

// A real Prometheus (Debian package prometheus) on 127.0.0.1 and a free port, scraping the given target
// every second as job "backup-sentinel" and evaluating the given rule files every second.

export interface PrometheusServer {
  url: string;
  // An instant query; rejects with Prometheus' error message when the query is invalid.
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

export function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    if (dir !== '' && fs.existsSync(file)) return file;
  }
  return undefined;
}

export async function startPrometheus(options: { target: string; ruleFiles: string[] }): Promise<PrometheusServer> {
  const binary = findBinary('prometheus');
  if (binary === undefined) throw new Error('prometheus is not installed (Debian: apt-get install prometheus)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-prometheus-'));
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: options.ruleFiles.map((f) => path.resolve(f)),
    scrape_configs: [{ job_name: 'backup-sentinel', static_configs: [{ targets: [options.target] }] }],
  };
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const child = spawn(
    binary,
    [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}`);
        return await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
      },
      'prometheus to be ready',
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}:\n${log}`, { cause: error });
  }
  return {
    url,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
      if (body.status !== 'success') throw new Error(`${body.error ?? response.status} in: ${expr}`);
      const result = body.data?.result;
      if (body.data?.resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
      return result as { metric: Record<string, string>; value: [number, string] }[];
    },
    stop,
  };
}
