import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSeededSentinel, type SeededSentinel } from './exported-metrics.ts';
import { dashboardQueries, readDashboard, readRules, RULES_FILE } from './files.ts';
import { findBinary, startPrometheus, type PrometheusServer } from './prometheus-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

// The real thing end to end: a real Prometheus scrapes the real service (startSentinel) and evaluates
// the rules file; the dashboard's queries run against what it scraped. Runs where the Debian package
// prometheus is installed, skipped elsewhere.

const NO_PROMETHEUS = 'prometheus is not installed (Debian: `apt-get install prometheus`, 19 MB download, 96 MB installed)';
const skip = findBinary('prometheus') === undefined ? NO_PROMETHEUS : false;

const GRAFANA_VARIABLES: [RegExp, string][] = [
  [/\$__(rate_)?interval\b/g, '1h'],
  [/\$__range\b/g, '1d'],
  [/\$\{?job\}?/g, 'backup-sentinel'],
  [/\$\{?instance\}?/g, '.*'],
  [/\$\{?set\}?/g, '.*'],
];

// A seeded service, a Prometheus scraping it with the rules loaded, once the first scrape saw the storage.
async function startScraped(seed: Parameters<typeof startSeededSentinel>[0]): Promise<{ sentinel: SeededSentinel; prometheus: PrometheusServer }> {
  const sentinel = await startSeededSentinel(seed);
  const prometheus = await startPrometheus({ target: `127.0.0.1:${sentinel.port}`, ruleFiles: [RULES_FILE] });
  await waitFor(async () => (await prometheus.query('backup_sentinel_newest_backup_timestamp_seconds')).length > 0, 'the first scrape with the storage listed', {
    timeoutMs: 15_000,
    intervalMs: 200,
  });
  return { sentinel, prometheus };
}

// Prometheus 2.x hands a scrape pool its first targets only after about 5 s (its discovery and scrape
// managers apply updates at most every 5 s; no flag shortens that): the two services and their
// Prometheus servers start at the same time, so the suite waits for that once, not twice.
describe('Prometheus end to end', { skip, concurrency: true }, () => {
  describe('Prometheus scraping the running service', { concurrency: 1 }, () => {
    let sentinel: SeededSentinel;
    let prometheus: PrometheusServer;
    const AGE_HOURS = 48;

    before(async () => {
      // One 4 KiB backup taken 48 h ago: stale under the default MAX_BACKUP_AGE_HOURS (25), not empty.
      ({ sentinel, prometheus } = await startScraped({ ageHours: AGE_HOURS, sizeBytes: 4096 }));
    });
    after(async () => {
      await prometheus?.stop();
      await sentinel?.stop();
    });

    it('every rule expression evaluates; only the ones this storage deserves match', async (t) => {
      const matching: string[] = [];
      for (const rule of readRules()) {
        const result = await prometheus.query(rule.expr);
        if (result.length > 0) matching.push(rule.alert ?? '?');
      }
      t.diagnostic(`rules matching now: ${matching.join(', ')}`);
      assert.ok(matching.includes('BackupTooOld'), 'a 48 h old backup does not match BackupTooOld');
      for (const quiet of ['BackupEmpty', 'BackupNoneStored', 'BackupStorageUnreachable', 'BackupSentinelDown', 'BackupSentinelAbsent', 'BackupSentinelNotChecking']) {
        assert.ok(!matching.includes(quiet), `${quiet} matches a healthy, reachable, non-empty storage`);
      }
    });

    it('Prometheus loads the rules and puts BackupTooOld in pending, its value the backup age', async () => {
      const alert = await waitFor(async () => (await prometheus.query('ALERTS{alertname="BackupTooOld"}'))[0], 'BackupTooOld in ALERTS', { timeoutMs: 15_000, intervalMs: 200 });
      assert.equal(alert.metric.alertstate, 'pending');
      assert.equal(alert.metric.severity, 'critical');
      const [age] = await prometheus.query('time() - backup_sentinel_newest_backup_timestamp_seconds');
      assert.ok(Math.abs(Number(age?.value[1]) - AGE_HOURS * 3600) < 120, `age ${age?.value[1] ?? '?'} s`);
    });

    it('every dashboard query runs, and the key panels have data', async () => {
      const empty: string[] = [];
      for (const { where, expr } of dashboardQueries(readDashboard())) {
        const query = GRAFANA_VARIABLES.reduce((e, [re, value]) => e.replace(re, value), expr);
        if (where.startsWith('variable')) continue; // label_values() is Grafana's, not PromQL
        if ((await prometheus.query(query)).length === 0) empty.push(where);
      }
      const findings = await prometheus.query('backup_sentinel_finding_severity{job="backup-sentinel"}');
      assert.equal(findings.find((f) => f.metric.check === 'stale')?.value[1], '2');
      assert.ok(findings.length >= 5, `only ${findings.length} findings rows`);
      const needed = ['Newest backup age', 'Age / limit', 'Backups in storage', 'Current findings', 'Storage reachable', 'Sentinel up'];
      assert.deepEqual(empty.filter((w) => needed.some((n) => w.startsWith(`panel "${n}"`))), []);
    });
  });

  describe('Prometheus scraping a service with retention off (RETENTION_DAYS=0)', { concurrency: 1 }, () => {
    let sentinel: SeededSentinel;
    let prometheus: PrometheusServer;

    before(async () => {
      ({ sentinel, prometheus } = await startScraped({ ageHours: 1, sizeBytes: 4096, env: { RETENTION_DAYS: '0' } }));
    });
    after(async () => {
      await prometheus?.stop();
      await sentinel?.stop();
    });

    it('no rule matches a fresh backup, retention rules included', async () => {
      const matching: string[] = [];
      for (const rule of readRules()) if ((await prometheus.query(rule.expr)).length > 0) matching.push(rule.alert ?? '?');
      assert.deepEqual(matching, []);
    });

    it('the dashboard says retention is off, deleted 0, and draws no RETENTION_DAYS line', async () => {
      const panelQuery = (title: string, refId = 'A'): string => {
        const found = dashboardQueries(readDashboard()).find(({ where }) => where === `panel "${title}" ${refId}`);
        assert.ok(found, `no panel "${title}" ${refId}`);
        return GRAFANA_VARIABLES.reduce((e, [re, value]) => e.replace(re, value), found.expr);
      };
      const mode = await prometheus.query(panelQuery('Retention mode'));
      assert.deepEqual(mode.map((m) => m.metric.mode), ['off']);
      const deleted = await prometheus.query(panelQuery('Deleted by prune (range)'));
      assert.deepEqual(deleted.map((d) => d.value[1]), ['0']);
      assert.deepEqual(await prometheus.query(panelQuery('Oldest backup vs retention (days)', 'B')), []);
      assert.equal((await prometheus.query(panelQuery('Oldest backup vs retention (days)', 'A'))).length, 1);
    });
  });
});
