import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

// Paths pino masks wherever they appear; secrets are also wrapped in Secret, which prints "***".
const REDACT = [
  'password',
  'secret',
  'secretAccessKey',
  'databaseUrl',
  'webhookUrl',
  'slackWebhookUrl',
  'passphrase',
  'identity',
  '*.password',
  '*.secretAccessKey',
  '*.databaseUrl',
  '*.webhookUrl',
  '*.passphrase',
  '*.identity',
];

// The one root logger, made by the composition root (or a test with a sink stream).
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'backup-sentinel' },
    redact: { paths: REDACT, censor: '***' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

// Log lines of one-off commands (check, list, backup...) go to stderr, so their stdout holds only what
// they print for people or --json consumers.
export function stderrDestination(): DestinationStream {
  return pino.destination(2);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
