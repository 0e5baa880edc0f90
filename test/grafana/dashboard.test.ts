import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { allPanels, DASHBOARD_FILE, dashboardQueries, findPromtool, NO_PROMTOOL, readDashboard, readText, readYaml } from './files.ts';
import { extractMetricNames } from './promql-names.ts';

// What Grafana puts in place of its variables before the query reaches Prometheus.
const GRAFANA_VARIABLES: [RegExp, string][] = [
  [/\$__(rate_)?interval\b/g, '1h'],
  [/\$__range\b/g, '7d'],
  [/\$\{?(job|instance|set)\}?/g, '.*'],
];
const promtool = findPromtool();

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

describe('Grafana dashboard', () => {
  const dashboard = readDashboard();
  const panels = allPanels(dashboard).filter((p) => p.type !== 'row');

  it('is valid JSON with the fixed uid and no import-only ${DS_...} inputs', () => {
    assert.equal(dashboard.uid, 'backup-sentinel');
    assert.equal(dashboard.__inputs, undefined);
    assert.doesNotMatch(readText(DASHBOARD_FILE), /\$\{DS_/);
  });

  it('chooses its Prometheus datasource through the `datasource` variable', () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'datasource');
    assert.equal(variable?.type, 'datasource');
    assert.equal((variable as { query?: unknown } | undefined)?.query, 'prometheus');
  });

  it('every panel, every query and every query variable uses the datasource variable', () => {
    const wrong: string[] = [];
    for (const panel of panels) {
      if (JSON.stringify(panel.datasource) !== JSON.stringify(DATASOURCE)) wrong.push(`panel "${panel.title}": ${JSON.stringify(panel.datasource)}`);
      assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has no query`);
      for (const target of panel.targets ?? []) {
        if (JSON.stringify(target.datasource) !== JSON.stringify(DATASOURCE)) wrong.push(`panel "${panel.title}" ${target.refId ?? ''}: ${JSON.stringify(target.datasource)}`);
      }
    }
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      if (JSON.stringify(variable.datasource) !== JSON.stringify(DATASOURCE)) wrong.push(`variable ${variable.name}: ${JSON.stringify(variable.datasource)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('panel ids are unique, refIds unique within a panel, and panels do not overlap on the 24-column grid', () => {
    const ids = allPanels(dashboard).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'duplicate panel ids');
    for (const panel of panels) {
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `duplicate refIds in "${panel.title}"`);
    }
    const boxes = allPanels(dashboard).map((p) => ({ title: p.title, ...p.gridPos }));
    for (const [i, a] of boxes.entries()) {
      assert.ok(a.x >= 0 && a.w > 0 && a.x + a.w <= 24, `"${a.title}" is outside the grid`);
      for (const b of boxes.slice(i + 1)) {
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `"${a.title}" overlaps "${b.title}"`);
      }
    }
  });

  it('has the panels people want at a glance, each on the metric it is about', () => {
    const used = (name: string): boolean => dashboardQueries(dashboard).some(({ expr }) => extractMetricNames(expr).has(name));
    const queriesOf = (title: RegExp): string => panels.filter((p) => title.test(p.title)).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')).join('\n');
    const wanted: [string, RegExp, string[]][] = [
      ['time since the last backup vs the limit', /age vs limit/i, ['backup_sentinel_newest_backup_timestamp_seconds', 'backup_sentinel_max_backup_age_seconds']],
      ['backup size with the recent median', /size/i, ['backup_sentinel_newest_backup_size_bytes', 'backup_sentinel_backup_size_median_bytes']],
      ['duration', /duration/i, ['backup_sentinel_last_backup_duration_seconds']],
      ['runs by result', /runs by result/i, ['backup_sentinel_backup_runs_total', 'by (result)']],
      ['current findings', /findings/i, ['backup_sentinel_finding_severity']],
      ['backups in storage and bytes', /backups in storage/i, ['backup_sentinel_stored_backups', 'backup_sentinel_stored_backups_size_bytes']],
      ['oldest backup vs retention', /oldest backup vs retention/i, ['backup_sentinel_oldest_backup_timestamp_seconds', 'backup_sentinel_retention_days']],
      ['notification failures by channel', /notification failures/i, ['backup_sentinel_notifications_total', 'channel']],
      ['last verification', /verification/i, ['backup_sentinel_last_verify_success']],
      ['last restore drill', /drill/i, ['backup_sentinel_last_drill_success']],
    ];
    const missing = wanted.filter(([, title, needles]) => needles.some((n) => !queriesOf(title).includes(n))).map(([what]) => what);
    assert.deepEqual(missing, []);
    assert.ok(used('up'), 'no panel shows whether Prometheus can scrape the service');
  });

  it('has a backup-set selector that every per-backup query follows, and a table of all sets', () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'set') as { includeAll?: boolean; allValue?: string } | undefined;
    assert.ok(variable, 'no `set` variable');
    assert.equal(variable.includeAll, true);
    assert.equal(variable.allValue, '.*', 'All must also match the unlabelled series of a single-database deployment');
    const perBackup = dashboardQueries(dashboard).filter(({ where, expr }) => where.startsWith('panel') && /backup_sentinel_(newest_backup|stored_backups|last_backup_success)/.test(expr));
    assert.ok(perBackup.length > 0);
    assert.deepEqual(perBackup.filter(({ expr }) => !expr.includes('set=~"$set"')).map(({ expr }) => expr), [], 'per-backup queries without the set filter');
    const table = panels.find((p) => /all backup sets/i.test(p.title)) as unknown as { type: string; targets: { expr: string }[] } | undefined;
    assert.equal(table?.type, 'table');
    const exprs = (table?.targets ?? []).map((t) => t.expr).join('\n');
    for (const needle of ['backup_sentinel_newest_backup_timestamp_seconds', 'backup_sentinel_newest_backup_size_bytes', 'backup_sentinel_last_backup_success']) assert.ok(exprs.includes(needle), needle);
  });

  it('the findings table has one row per check (an instant table query) with clear/warn/fail mapped', () => {
    const table = panels.find((p) => /findings/i.test(p.title)) as unknown as { type: string; targets: { instant?: boolean; format?: string }[]; fieldConfig: { defaults: { mappings: { options: Record<string, { text: string }> }[] } } };
    assert.equal(table.type, 'table');
    assert.equal(table.targets[0]?.instant, true);
    assert.equal(table.targets[0]?.format, 'table');
    const texts = Object.values(table.fieldConfig.defaults.mappings[0]?.options ?? {}).map((o) => o.text.toLowerCase());
    assert.deepEqual(texts, ['clear', 'warn', 'fail']);
  });

  it('every panel query is valid PromQL once Grafana has put in its variables (promtool)', { skip: promtool === undefined ? NO_PROMTOOL : false }, async () => {
    // promtool checks recording rules' expressions without a server: one rule per panel query.
    const queries = dashboardQueries(dashboard).filter(({ where }) => where.startsWith('panel'));
    const rules = queries.map(({ expr }, i) => ({ record: `dashboard:query_${i}`, expr: GRAFANA_VARIABLES.reduce((e, [re, value]) => e.replace(re, value), expr) }));
    assert.ok(rules.every((r) => !r.expr.includes('$')), 'a Grafana variable is left in a query');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-dash-'));
    try {
      const file = path.join(dir, 'dashboard-queries.yml');
      fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
      const { stdout } = await promisify(execFile)(promtool ?? 'promtool', ['check', 'rules', file]).catch((error: { stdout?: string; stderr?: string }) => {
        throw new Error(`promtool rejects a dashboard query:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
      });
      assert.match(stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the provisioning provider loads dashboards from the folder docker-compose mounts this one into', () => {
    const provider = readYaml<{ providers: { type: string; options: { path: string } }[] }>('grafana/provisioning/dashboards/backup-sentinel.yml').providers[0];
    assert.equal(provider?.type, 'file');
    const grafana = readYaml<{ services: Record<string, { volumes?: string[] }> }>('docker-compose.yml').services.grafana;
    assert.ok(grafana?.volumes?.some((v) => v.startsWith(`./grafana/dashboards:${provider?.options.path ?? '?'}`)), `nothing mounted at ${provider?.options.path ?? '?'}`);
  });

  it('the provisioned datasource is a Prometheus one that the compose Grafana can reach', () => {
    const { datasources } = readYaml<{ datasources: { type: string; url: string }[] }>('grafana/provisioning/datasources/prometheus.yml');
    assert.equal(datasources[0]?.type, 'prometheus');
    const host = new URL(datasources[0]?.url ?? '').hostname;
    assert.ok(readYaml<{ services: Record<string, unknown> }>('docker-compose.yml').services[host], `no compose service "${host}"`);
  });
});
