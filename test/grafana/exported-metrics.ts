import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { parseMetrics } from '../helpers/metrics.ts';
import { waitFor } from '../helpers/wait-for.ts';

// What a running service exports on /metrics: every name it declares (`# TYPE` lines, which prom-client
// writes even for a metric without a value yet) and the names that carry samples right now.
export interface ExportedMetrics {
  declared: Map<string, string>;
  sampled: Set<string>;
  text: string;
}

// Names a histogram or summary exposes besides its declared name.
const SERIES_SUFFIXES: Record<string, readonly string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

export function parseExposition(text: string): ExportedMetrics {
  const { samples, types } = parseMetrics(text);
  const declared = new Map<string, string>();
  for (const [name, kind] of types) {
    declared.set(name, kind);
    for (const suffix of SERIES_SUFFIXES[kind] ?? []) declared.set(`${name}${suffix}`, kind);
  }
  return { declared, sampled: new Set(samples.map((s) => s.name)), text };
}

export interface SeededSentinel {
  port: number;
  stop(): Promise<void>;
}

// Starts the real service (startSentinel, as `serve` does) on directory storage in a temp dir holding one
// backup of `sizeBytes` taken `ageHours` ago, monitor-only (no database needed), on 127.0.0.1; `env`
// adds settings (e.g. RETENTION_DAYS=0).
export async function startSeededSentinel({ ageHours = 1, sizeBytes = 4096, env = {} } = {}): Promise<SeededSentinel> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bs-grafana-'));
  const stamp = new Date(Date.now() - ageHours * 3600_000).toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-');
  await fs.writeFile(path.join(dir, `backup-${stamp}.sql.gz`), Buffer.alloc(sizeBytes, 1));
  try {
    const sentinel = await startSentinel({
      config: loadConfig({ BACKUP_DIR: dir, LOG_LEVEL: 'silent', ...env }),
      logger: silentLogger(),
      host: '127.0.0.1',
      port: 0,
    });
    return {
      port: sentinel.port,
      async stop() {
        await sentinel.stop();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
}

// Scrapes a seeded service's /metrics once its first check has run (at most 5 s), then stops it.
export async function scrapeRunningService(): Promise<ExportedMetrics> {
  const sentinel = await startSeededSentinel();
  try {
    const url = `http://127.0.0.1:${sentinel.port}/metrics`;
    return await waitFor(
      async () => {
        const response = await fetch(url);
        if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
        const exported = parseExposition(await response.text());
        return exported.sampled.has('backup_sentinel_last_check_timestamp_seconds') && exported;
      },
      'the first check on /metrics',
      { timeoutMs: 5_000, intervalMs: 100 },
    );
  } finally {
    await sentinel.stop();
  }
}
