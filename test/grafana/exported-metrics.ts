import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';

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
  const declared = new Map<string, string>();
  const sampled = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name = '', kind = ''] = type;
      declared.set(name, kind);
      for (const suffix of SERIES_SUFFIXES[kind] ?? []) declared.set(`${name}${suffix}`, kind);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)[\s{]/.exec(line);
    if (sample?.[1] !== undefined) sampled.add(sample[1]);
  }
  return { declared, sampled, text };
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
    let exported = parseExposition('');
    for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
      const response = await fetch(url);
      if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
      exported = parseExposition(await response.text());
      if (exported.sampled.has('backup_sentinel_last_check_timestamp_seconds')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return exported;
  } finally {
    await sentinel.stop();
  }
}
