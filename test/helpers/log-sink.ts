import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.ts';

interface LogSink {
  logger: Logger;
  // Every line pino wrote so far (properties, not methods: tests destructure them).
  text: () => string;
  // Parsed lines.
  records: () => Record<string, unknown>[];
}

// A stream that keeps everything written to it (a command's stdout/stderr, a logger's output).
export function captureStream(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return { stream, text: () => chunks.join('') };
}

// A real pino logger writing JSON lines into memory, so tests can read (and grep) what was logged.
export function captureLogs(level = 'debug'): LogSink {
  const { stream, text } = captureStream();
  const logger = createLogger(level, stream);
  return {
    logger,
    text,
    records: () =>
      text()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
