// The status page at `/`: one server-rendered HTML document for people without Prometheus. No scripts,
// fonts or anything fetched from elsewhere (it must render on a locked-down network and without
// JavaScript), light and dark from the browser's preference, readable on a phone, and refreshed by the
// browser every minute. Pure: the model in, the HTML out.

export type Verdict = 'pass' | 'warn' | 'fail';

export interface PageFinding {
  check: string;
  severity: 'warn' | 'fail';
  summary: string;
  hint?: string | undefined;
  // The backup set it is about, where there are several.
  set?: string | undefined;
}

interface PagePoint {
  time: Date;
  sizeBytes: number;
  // Known for runs this process saw finish; undefined for backups it only listed.
  durationMs?: number | undefined;
}

export interface PageSet {
  // undefined for the only set of a single-database deployment.
  name?: string | undefined;
  // Where its backups are, e.g. "s3://bucket/backup-" (never secret).
  where: string;
  newest?: { key: string; time: Date; sizeBytes: number } | undefined;
  maxAgeHours: number;
  count: number;
  totalBytes: number;
  // The latest backups, oldest first (at most 60).
  history: readonly PagePoint[];
  lastRun?: { status: string; at: Date; durationMs?: number | undefined; error?: string | undefined } | undefined;
  nextBackupAt?: Date | undefined;
  // One line each: "lifecycle rule deletes after 30 days", "last verification: ok, 12 tables, 3 min ago".
  retention: string;
  verification: readonly string[];
  // A command that restores the newest backup (no secret in it).
  restoreCommand?: string | undefined;
}

export interface StatusPageModel {
  name: string;
  version?: string | undefined;
  now: Date;
  verdict: Verdict;
  findings: readonly PageFinding[];
  sets: readonly PageSet[];
  lastCheckAt?: Date | undefined;
  nextCheckAt?: Date | undefined;
  // "leader" / "standby (the leader is …)" when a leader lease is in use.
  role?: string | undefined;
}

export const HISTORY_POINTS = 60;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function formatBytesShort(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

// "3 min ago", "in 5 h", "2 d ago".
export function relativeTime(then: Date, now: Date): string {
  const ms = then.getTime() - now.getTime();
  const abs = Math.abs(ms);
  const text =
    abs < 90_000 ? `${Math.round(abs / 1000)} s` : abs < 90 * 60_000 ? `${Math.round(abs / 60_000)} min` : abs < 48 * 3_600_000 ? `${(abs / 3_600_000).toFixed(1)} h` : `${(abs / 86_400_000).toFixed(1)} d`;
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

function time(date: Date, now: Date): string {
  return `<time datetime="${date.toISOString()}" title="${date.toISOString()}">${escapeHtml(relativeTime(date, now))}</time>`;
}

const HEADLINES: Record<Verdict, string> = {
  pass: 'All good: backups are fresh and plausible',
  warn: 'Needs attention',
  fail: 'Backups are at risk',
};

// Sizes (bars) and durations (a line, where known) of the latest backups, drawn as inline SVG.
function chart(set: PageSet): string {
  const points = set.history.slice(-HISTORY_POINTS);
  if (points.length === 0) return '<p class="muted">No backups to chart yet.</p>';
  const width = 600;
  const height = 140;
  const pad = 4;
  const maxSize = Math.max(...points.map((p) => p.sizeBytes), 1);
  const step = (width - 2 * pad) / points.length;
  const bars = points
    .map((p, i) => {
      const h = Math.max(1, ((height - 2 * pad) * p.sizeBytes) / maxSize);
      const x = pad + i * step;
      return `<rect class="size" x="${x.toFixed(1)}" y="${(height - pad - h).toFixed(1)}" width="${Math.max(1, step - 1).toFixed(1)}" height="${h.toFixed(1)}"><title>${escapeHtml(`${p.time.toISOString()}: ${formatBytesShort(p.sizeBytes)}${p.durationMs === undefined ? '' : `, ${Math.round(p.durationMs / 1000)} s`}`)}</title></rect>`;
    })
    .join('');
  const timed = points.map((p, i) => ({ p, i })).filter(({ p }) => p.durationMs !== undefined);
  let line = '';
  if (timed.length > 1) {
    const maxMs = Math.max(...timed.map(({ p }) => p.durationMs ?? 0), 1);
    const coords = timed.map(({ p, i }) => `${(pad + i * step + step / 2).toFixed(1)},${(height - pad - ((height - 2 * pad) * (p.durationMs ?? 0)) / maxMs).toFixed(1)}`);
    line = `<polyline class="duration" points="${coords.join(' ')}"/>`;
  }
  const first = points[0]?.time.toISOString().slice(0, 10) ?? '';
  const last = points.at(-1)?.time.toISOString().slice(0, 10) ?? '';
  const label = `Sizes of the last ${points.length} backups, ${first} to ${last} (largest ${formatBytesShort(maxSize)})${timed.length > 1 ? '; the line is how long each run took' : ''}`;
  return `<figure><svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(label)}" data-points="${points.length}">${bars}${line}</svg><figcaption>${escapeHtml(label)}</figcaption></figure>`;
}

function findingList(findings: readonly PageFinding[]): string {
  if (findings.length === 0) return '<p class="ok">No problems found.</p>';
  const items = findings
    .map(
      (f) =>
        `<li class="finding ${f.severity}"><strong>${escapeHtml(f.severity.toUpperCase())}</strong> ${f.set === undefined ? '' : `<span class="set">[${escapeHtml(f.set)}]</span> `}${escapeHtml(f.summary)}${f.hint ? `<div class="hint">What to do: ${escapeHtml(f.hint)}</div>` : ''}</li>`,
    )
    .join('');
  return `<ul class="findings">${items}</ul>`;
}

function setSection(set: PageSet, now: Date): string {
  const title = set.name === undefined ? 'Backups' : `Backup set ${set.name}`;
  const rows: [string, string][] = [['Storage', `<code>${escapeHtml(set.where)}</code>`]];
  if (set.newest) {
    const ageHours = (now.getTime() - set.newest.time.getTime()) / 3_600_000;
    const within = ageHours <= set.maxAgeHours;
    rows.push(['Newest backup', `<code class="newest-key">${escapeHtml(set.newest.key)}</code>`]);
    rows.push(['Age', `<span class="${within ? 'ok' : 'bad'}">${time(set.newest.time, now)}</span> (limit ${set.maxAgeHours} h), ${escapeHtml(formatBytesShort(set.newest.sizeBytes))}`]);
  } else {
    rows.push(['Newest backup', '<span class="bad">none found</span>']);
  }
  rows.push(['Backups stored', `${set.count} (${escapeHtml(formatBytesShort(set.totalBytes))})`]);
  if (set.lastRun) {
    const run = set.lastRun;
    rows.push(['Last run', `${escapeHtml(run.status)} ${time(run.at, now)}${run.durationMs === undefined ? '' : `, took ${Math.round(run.durationMs / 1000)} s`}${run.error ? `: ${escapeHtml(run.error)}` : ''}`]);
  }
  if (set.nextBackupAt) rows.push(['Next backup', time(set.nextBackupAt, now)]);
  rows.push(['Retention', escapeHtml(set.retention)]);
  for (const line of set.verification) rows.push(['Restorable', escapeHtml(line)]);
  const table = rows.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${v}</td></tr>`).join('');
  const restore = set.restoreCommand ? `<details><summary>Restore the newest backup</summary><pre><code class="restore">${escapeHtml(set.restoreCommand)}</code></pre></details>` : '';
  return `<section class="set"><h2>${escapeHtml(title)}</h2><table>${table}</table>${chart(set)}${restore}</section>`;
}

const STYLE = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#59636e;--line:#d1d9e0;--ok:#1a7f37;--warn:#9a6700;--fail:#cf222e;--bar:#218bff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--ok:#3fb950;--warn:#d29922;--fail:#f85149;--bar:#4493f8}}
*{box-sizing:border-box}body{margin:0 auto;max-width:52rem;padding:1rem;font:16px/1.5 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.banner{border-radius:.5rem;padding:.8rem 1rem;color:#fff}.banner.pass{background:var(--ok)}.banner.warn{background:var(--warn)}.banner.fail{background:var(--fail)}
.banner p{margin:.2rem 0 0}.muted,figcaption,footer{color:var(--muted);font-size:.9rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid var(--line)}th{white-space:nowrap;font-weight:600;width:9rem}
code{font-size:.9em;overflow-wrap:anywhere}pre{overflow-x:auto;padding:.5rem;border:1px solid var(--line);border-radius:.3rem}
.ok{color:var(--ok)}.bad{color:var(--fail)}.findings{padding-left:1.2rem}.finding.fail strong{color:var(--fail)}.finding.warn strong{color:var(--warn)}.hint{color:var(--muted)}
.chart{width:100%;height:auto;border:1px solid var(--line);border-radius:.3rem}.chart .size{fill:var(--bar)}.chart .duration{fill:none;stroke:var(--warn);stroke-width:2}
figure{margin:.8rem 0}a{color:var(--bar)}
`;

export function renderStatusPage(model: StatusPageModel): string {
  const { now } = model;
  const reasons = model.findings.slice(0, 3).map((f) => `<p>${escapeHtml(f.set === undefined ? f.summary : `[${f.set}] ${f.summary}`)}</p>`).join('');
  const checks = [model.lastCheckAt ? `last check ${time(model.lastCheckAt, now)}` : 'no check yet', model.nextCheckAt ? `next check ${time(model.nextCheckAt, now)}` : ''].filter(Boolean).join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="60"><meta name="color-scheme" content="light dark">
<title>${escapeHtml(`${model.verdict === 'pass' ? 'OK' : model.verdict.toUpperCase()} · ${model.name}`)}</title>
<style>${STYLE}</style></head>
<body>
<header><h1>${escapeHtml(model.name)}</h1></header>
<div class="banner ${model.verdict}" role="status" data-verdict="${model.verdict}"><strong>${escapeHtml(HEADLINES[model.verdict])}</strong>${reasons}</div>
<p class="muted">${checks}${model.role ? ` · ${escapeHtml(model.role)}` : ''}</p>
<h2>Findings</h2>
${findingList(model.findings)}
${model.sets.map((s) => setSection(s, now)).join('\n')}
<footer><p>backup-sentinel${model.version ? ` ${escapeHtml(model.version)}` : ''} · rendered ${escapeHtml(now.toISOString())} · refreshes every minute · <a href="/status">/status</a> (JSON) · <a href="/metrics">/metrics</a></p></footer>
</body></html>
`;
}
