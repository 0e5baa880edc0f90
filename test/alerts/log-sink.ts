import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.ts';

export interface LogSink {
  logger: Logger;
  // Every line pino wrote so far.
  text(): string;
  // Parsed lines.
  records(): Record<string, unknown>[];
}

// A real pino logger writing JSON lines into memory, so tests can read (and grep) what was logged.
export function captureLogs(level = 'debug'): LogSink {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const logger = createLogger(level, stream);
  return {
    logger,
    text: () => chunks.join(''),
    records: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
