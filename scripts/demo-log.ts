import type { DestinationStream } from 'pino';

// A pino destination for the demo's console: one short line per log record ("01:02:03 INFO  backup
// backup written ..."), alerts marked so they stand out. Production keeps pino's JSON lines.

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

// Formats one pino JSON line; a line that is not JSON is returned as it is.
export function formatLogLine(line: string, options: { alertsToLog: boolean }): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trimEnd();
  }
  const time = typeof record.time === 'string' ? record.time.slice(11, 19) : '';
  const level = LEVELS[Number(record.level)] ?? String(record.level);
  const component = typeof record.component === 'string' ? record.component : '';
  const msg = typeof record.msg === 'string' ? record.msg : '';
  const extra: string[] = [];
  const err = record.err as { message?: unknown } | undefined;
  if (err && typeof err.message === 'string' && !msg.includes(err.message)) extra.push(`error: ${err.message}`);
  if (typeof record.hint === 'string') extra.push(`what to do: ${record.hint}`);
  const head = msg.startsWith('alert: ') ? `ALERT ${msg.slice('alert: '.length)}${options.alertsToLog ? '  (no alert channel configured: alerts go to this log)' : ''}` : msg;
  return [`${time} ${level.padEnd(5)} ${component.padEnd(14)} ${head}`, ...extra.map((e) => `${' '.repeat(30)}${e}`)].join('\n');
}

export function createConsoleLogDestination(out: { write(text: string): unknown }, options: { alertsToLog: boolean }): DestinationStream {
  let pending = '';
  return {
    write(chunk: string) {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() !== '') out.write(`${formatLogLine(line, options)}\n`);
        newline = pending.indexOf('\n');
      }
    },
  };
}
