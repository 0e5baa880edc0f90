import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { scrapeRunningService, parseExposition, type ExportedMetrics } from './exported-metrics.ts';
import { dashboardQueries, readDashboard, readRules } from './files.ts';
import { extractMetricNames, extractTemplateMetricNames } from './promql-names.ts';

// Series Prometheus makes itself for every scrape target, not exported by the service.
const PROMETHEUS_SERIES = new Set(['up']);

describe('metric names in PromQL', () => {
  it('are found in selectors, function arguments and binary expressions', () => {
    assert.deepEqual(
      [...extractMetricNames('time() - a_timestamp_seconds{job=~"$job", instance=~"$instance"} > bool b_limit_seconds offset 5m')].sort(),
      ['a_timestamp_seconds', 'b_limit_seconds'],
    );
    assert.deepEqual(
      [...extractMetricNames('sum by (channel, result) (increase(c_total{result!="sent"}[$__interval])) and on (instance, job) d == 1')].sort(),
      ['c_total', 'd'],
    );
    assert.deepEqual([...extractMetricNames('quantile_over_time(0.5, e_bytes[7d]) * on (instance) group_left f_ratio')].sort(), ['e_bytes', 'f_ratio']);
  });

  it('leave out functions, keywords, label names, strings, numbers and Grafana variables', () => {
    assert.deepEqual([...extractMetricNames('absent(up{job="x"}) or vector(1e3) unless rate (g_total[1h:5m]) > 3 * 3600')].sort(), ['g_total', 'up']);
    assert.deepEqual([...extractMetricNames('label_replace(h, "dst", "$1", "src", "(.*)") AND ON() i')].sort(), ['h', 'i']);
    assert.deepEqual([...extractMetricNames('label_values(j_info{job=~"$job"}, instance)')], ['j_info']);
    assert.deepEqual([...extractMetricNames('label_values(job)')], []);
    assert.deepEqual([...extractMetricNames('count(k) without (le) / ${metric_var}')], ['k']);
  });

  it('are found in the queries of alert templates', () => {
    const template = 'limit {{ with printf "l_seconds{instance=%q}" $labels.instance | query }}{{ . | first | value }}{{ end }} and p_m';
    assert.deepEqual([...extractTemplateMetricNames(template, 'p_')].sort(), ['l_seconds', 'p_m']);
  });
});

describe('the dashboard and the alert rules use only metrics the service exports', () => {
  let exported: ExportedMetrics;
  before(async () => {
    exported = await scrapeRunningService();
  });

  const unknownIn = (names: Iterable<string>): string[] =>
    [...names].filter((name) => !exported.declared.has(name) && !PROMETHEUS_SERIES.has(name));

  it('the running service answers /metrics with its backup_sentinel_ metrics and standard process metrics', () => {
    const ours = [...exported.declared.keys()].filter((n) => n.startsWith('backup_sentinel_'));
    assert.ok(
      ours.length >= 30,
      `startSentinel's /metrics has only ${ours.length} backup_sentinel_ metrics (${ours.join(', ') || 'none'}): src/main.ts must register the monitor, retention, alert and verify metrics on its registry`,
    );
    assert.ok(exported.declared.has('process_cpu_seconds_total'));
  });

  it('every metric a dashboard panel or variable queries is exported', () => {
    const unknown = dashboardQueries(readDashboard()).flatMap(({ where, expr }) => unknownIn(extractMetricNames(expr)).map((name) => `${name} (${where})`));
    assert.deepEqual(unknown, [], 'the dashboard queries metrics the service does not export');
  });

  it('every metric an alert rule or its annotations query is exported', () => {
    const unknown = readRules().flatMap((rule) => {
      const names = new Set(extractMetricNames(rule.expr));
      for (const text of Object.values(rule.annotations ?? {})) for (const n of extractTemplateMetricNames(text, 'backup_sentinel_')) names.add(n);
      return unknownIn(names).map((name) => `${name} (rule ${rule.alert ?? rule.record ?? '?'})`);
    });
    assert.deepEqual(unknown, [], 'the alert rules use metrics the service does not export');
  });

  it('a name the service does not export is reported', () => {
    const fake = parseExposition('# TYPE backup_sentinel_x gauge\nbackup_sentinel_x 1\n');
    const names = extractMetricNames('backup_sentinel_x + backup_sentinel_typo');
    assert.deepEqual([...names].filter((n) => !fake.declared.has(n)), ['backup_sentinel_typo']);
  });
});
