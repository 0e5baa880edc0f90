import assert from 'node:assert/strict';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface ParsedMetrics {
  samples: Sample[];
  // `# TYPE` and `# HELP` lines by metric name.
  types: Map<string, string>;
  help: Map<string, string>;
}

// Parses the Prometheus text format (enough of it for these tests); a line it cannot read fails the test,
// so a malformed exposition never passes as "sample absent".
export function parseMetrics(text: string): ParsedMetrics {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'TYPE' ? types : help).set(meta[2] ?? '', meta[3] ?? '');
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] ?? ''] = pair[2] ?? '';
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return { samples, types, help };
}

// The value of the first sample named `name` whose labels include `labels`, or undefined when there is none.
// Takes the exposition text or samples already parsed.
export function sample(metrics: string | Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const samples = typeof metrics === 'string' ? parseMetrics(metrics).samples : metrics;
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
