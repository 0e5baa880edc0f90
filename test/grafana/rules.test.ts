import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { runbookLink } from '../../src/alerts/format-message.ts';
import { ALL_CHECKS } from '../../src/core/findings.ts';
import { findPromtool, NO_PROMTOOL, PROMETHEUS_FILE, readRules, readText, readYaml, RULES_FILE, RUNBOOK_BASE } from './files.ts';

const run = promisify(execFile);

// Runbook sections for what only Prometheus can see (the service cannot report its own death).
const PROMETHEUS_ONLY_ANCHORS = ['sentinel-down', 'sentinel-not-checking', 'alert-delivery-failing'];
const SEVERITIES = new Set(['critical', 'warning']);

const promtool = findPromtool();

describe('Prometheus alert rules', () => {
  const rules = readRules();

  it('parse as YAML into groups of alerting rules with unique names', () => {
    assert.ok(rules.length >= 10, `only ${rules.length} rules`);
    const names = rules.map((r) => r.alert);
    assert.ok(names.every((n) => typeof n === 'string' && /^[A-Z][A-Za-z]+$/.test(n)), `alert names: ${names.join(', ')}`);
    assert.equal(new Set(names).size, names.length, 'duplicate alert names');
  });

  it('every rule has an expression, a for duration, a severity, a summary, a description with values and a runbook_url', () => {
    const problems: string[] = [];
    for (const rule of rules) {
      const name = rule.alert ?? '?';
      if (typeof rule.expr !== 'string' || rule.expr.trim() === '') problems.push(`${name}: no expr`);
      if (typeof rule.for !== 'string' || !/^\d+[smh]$/.test(rule.for)) problems.push(`${name}: for is ${String(rule.for)}`);
      if (!SEVERITIES.has(rule.labels?.severity ?? '')) problems.push(`${name}: severity is ${String(rule.labels?.severity)}`);
      const { summary, description, runbook_url: runbook } = rule.annotations ?? {};
      if (!summary) problems.push(`${name}: no summary`);
      if (!description) problems.push(`${name}: no description`);
      else if (!/\{\{[^}]*(\$value|\$labels|query)/.test(`${summary ?? ''} ${description}`)) problems.push(`${name}: summary and description show no value`);
      if (!runbook) problems.push(`${name}: no runbook_url`);
    }
    assert.deepEqual(problems, []);
  });

  it('runbook links point into the deployment guide, at the same anchors the service uses for its own alerts', () => {
    const allowed = new Set([...ALL_CHECKS.map((c) => runbookLink(RUNBOOK_BASE, c)), ...PROMETHEUS_ONLY_ANCHORS.map((a) => `${RUNBOOK_BASE}#${a}`)]);
    const wrong = rules.filter((r) => !allowed.has(r.annotations?.runbook_url ?? '')).map((r) => `${r.alert ?? '?'}: ${r.annotations?.runbook_url ?? ''}`);
    assert.deepEqual(wrong, []);
  });

  it('every check the service reports has a rule (linked to that check’s runbook section)', () => {
    const linked = new Set(rules.map((r) => r.annotations?.runbook_url));
    const missing = ALL_CHECKS.filter((c) => !linked.has(runbookLink(RUNBOOK_BASE, c)));
    assert.deepEqual(missing, [], 'checks without an alert rule');
  });

  it('the too-old rule uses the exported threshold, and the sentinel being down or gone is covered', () => {
    const exprs = rules.map((r) => r.expr.replace(/\s+/g, ' '));
    assert.ok(exprs.some((e) => e.includes('backup_sentinel_newest_backup_timestamp_seconds') && e.includes('> backup_sentinel_max_backup_age_seconds')));
    assert.ok(exprs.includes('up{job="backup-sentinel"} == 0'));
    assert.ok(exprs.includes('absent(up{job="backup-sentinel"})'));
  });

  it('the compose Prometheus scrapes job "backup-sentinel" (the rules match it) and loads the rules file', () => {
    const config = readYaml<{ rule_files: string[]; scrape_configs: { job_name: string }[] }>(PROMETHEUS_FILE);
    assert.ok(config.scrape_configs.some((s) => s.job_name === 'backup-sentinel'));
    assert.deepEqual(config.rule_files.map((f) => path.basename(f)), [path.basename(RULES_FILE)]);
    for (const rule of rules) {
      for (const job of rule.expr.matchAll(/job="([^"]*)"/g)) assert.equal(job[1], 'backup-sentinel', `${rule.alert ?? '?'} matches job ${job[1] ?? ''}`);
    }
  });

  it('the deployment guide has a section for every runbook anchor', () => {
    assert.deepEqual(missingAnchors(), [], 'anchors missing from docs/BACKUP_CONFIGURATION.md');
  });

  it('promtool accepts the rules file', { skip: promtool === undefined ? NO_PROMTOOL : false }, async () => {
    const { stdout } = await run(promtool ?? 'promtool', ['check', 'rules', RULES_FILE]);
    assert.match(stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('the rules fire, stay quiet and word their messages as the promtool unit tests expect', { skip: promtool === undefined ? NO_PROMTOOL : false }, async () => {
    const tests = RULES_FILE.replace(/\.yml$/, '.test.yml');
    const { stdout } = await run(promtool ?? 'promtool', ['test', 'rules', tests]).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`promtool test rules failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
    });
    assert.match(stdout, /SUCCESS/);
    // Every alert has at least one unit test.
    const tested = new Set([...readText(tests).matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    assert.deepEqual(rules.map((r) => r.alert).filter((a) => !tested.has(a)), []);
  });

  it('promtool accepts the compose Prometheus configuration', { skip: promtool === undefined ? NO_PROMTOOL : false }, async () => {
    // The rule_files path is the one inside the container; check the syntax, then the whole with a local copy.
    await run(promtool ?? 'promtool', ['check', 'config', '--syntax-only', PROMETHEUS_FILE]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-prom-'));
    try {
      fs.copyFileSync(RULES_FILE, path.join(dir, path.basename(RULES_FILE)));
      const local = readText(PROMETHEUS_FILE).replace(/\/etc\/prometheus\/rules\//g, `${dir}/`);
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), local);
      const { stdout } = await run(promtool ?? 'promtool', ['check', 'config', path.join(dir, 'prometheus.yml')]);
      assert.match(stdout, /SUCCESS: 1 rule files found/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Anchors the rules link to that the deployment guide does not define yet (heading slugs or id="...").
function missingAnchors(): string[] {
  const file = 'docs/BACKUP_CONFIGURATION.md';
  const text = fs.existsSync(file) ? readText(file) : '';
  const ids = new Set([...text.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]));
  for (const heading of text.matchAll(/^#+\s+(.+)$/gm)) {
    ids.add((heading[1] ?? '').trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-'));
  }
  const anchors = new Set(readRules().map((r) => (r.annotations?.runbook_url ?? '').split('#')[1] ?? ''));
  return [...anchors].filter((a) => !ids.has(a));
}

