// Metric names used by a PromQL expression (or a Grafana variable query), for the test that checks the
// dashboard and the alert rules use only names the service exports. Not a PromQL parser: it removes what
// cannot be a metric name (strings, label matchers, ranges, label lists of by/without/on/ignoring/
// group_left/group_right, Grafana variables), then keeps identifiers that are not followed by `(`
// (functions, aggregations) and are not keywords. Numbers and durations never match (they start with a digit).

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan']);

const STRING = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g;
const GRAFANA_VARIABLE = /\$\{[^}]*\}|\$__\w+|\$\w+|\[\[\w+\]\]/g;
const LABEL_LIST = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/gi;
// An identifier that is whole (not the tail of a number like 1e3 or of another name) and not a call.
const IDENTIFIER = /(?<![\w:.])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()/g;

export function extractMetricNames(expr: string): Set<string> {
  let s = expr.replace(GRAFANA_VARIABLE, ' ');
  s = s.replace(STRING, '""');
  s = s.replace(/#[^\n]*/g, ' ');
  s = s.replace(/\{[^{}]*\}/g, ' ');
  s = s.replace(/\[[^[\]]*\]/g, ' ');
  // Grafana's label_values(metric, label): the last argument is a label name.
  s = s.replace(/\blabel_values\s*\(([^,()]*),[^()]*\)/g, ' $1 ');
  s = s.replace(/\blabel_values\s*\([^,()]*\)/g, ' ');
  s = s.replace(LABEL_LIST, ' ');
  const names = new Set<string>();
  for (const match of s.matchAll(IDENTIFIER)) {
    const name = match[0];
    if (!KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return names;
}

// Metric names inside Prometheus alert templates (`query` calls in annotations), e.g.
// {{ with printf "backup_sentinel_max_backup_age_seconds{instance=%q}" ... | query }}.
export function extractTemplateMetricNames(template: string, prefix: string): Set<string> {
  const names = new Set<string>();
  for (const query of template.matchAll(/printf\s+"((?:[^"\\]|\\.)*)"/g)) {
    for (const name of extractMetricNames((query[1] ?? '').replaceAll('%q', '""').replaceAll('\\"', '"'))) names.add(name);
  }
  for (const match of template.matchAll(new RegExp(`\\b${prefix}[a-z0-9_:]+`, 'g'))) names.add(match[0]);
  return names;
}
