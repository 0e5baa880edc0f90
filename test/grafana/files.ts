import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

// The files under test, read from the repository, and the PromQL they hold.

export const DASHBOARD_FILE = 'grafana/dashboards/backup-sentinel.json';
export const RULES_FILE = 'grafana/prometheus/backup-sentinel.rules.yml';
export const PROMETHEUS_FILE = 'grafana/prometheus/prometheus.yml';
export const COMPOSE_FILE = 'docker-compose.yml';
export const RUNBOOK_BASE = 'https://github.com/backup-sentinel/backup-sentinel/blob/main/docs/BACKUP_CONFIGURATION.md';

interface Target {
  expr?: string;
  datasource?: unknown;
  refId?: string;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: unknown;
  targets?: Target[];
  panels?: Panel[];
  gridPos: { x: number; y: number; w: number; h: number };
}

interface TemplateVariable {
  name: string;
  type: string;
  query?: unknown;
  definition?: string;
  datasource?: unknown;
}

export interface Dashboard {
  uid: string;
  title: string;
  __inputs?: unknown;
  panels: Panel[];
  templating: { list: TemplateVariable[] };
}

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

export function readText(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

export function readYaml<T>(file: string): T {
  return parse(readText(file)) as T;
}

export function readDashboard(): Dashboard {
  return JSON.parse(readText(DASHBOARD_FILE)) as Dashboard;
}

export function readRules(): Rule[] {
  return readYaml<RuleFile>(RULES_FILE).groups.flatMap((g) => g.rules);
}

// Every panel, rows' nested panels included.
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

// PromQL of every panel target and every query variable, each with where it comes from.
export function dashboardQueries(dashboard: Dashboard): { where: string; expr: string }[] {
  const queries: { where: string; expr: string }[] = [];
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      if (target.expr !== undefined) queries.push({ where: `panel "${panel.title}" ${target.refId ?? ''}`, expr: target.expr });
    }
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : (variable.query as { query?: string } | undefined)?.query;
    for (const expr of [query, variable.definition]) if (expr) queries.push({ where: `variable ${variable.name}`, expr });
  }
  return queries;
}

// promtool (Debian package prometheus) on PATH, if installed; tests that need it skip otherwise.
export function findPromtool(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, 'promtool');
    if (dir !== '' && fs.existsSync(file)) return file;
  }
  return undefined;
}

export const NO_PROMTOOL =
  'promtool is not installed (Debian: `apt-get install prometheus`, 19 MB download, 96 MB installed); the YAML checks still run';
