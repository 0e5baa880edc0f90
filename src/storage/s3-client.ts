import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config/types.ts';
import { BackoffRetryStrategy } from './s3-retry.ts';
import { s3Sdk } from './s3-sdk.ts';

// Network limits of every S3 request. A dead endpoint fails within 4 attempts × connect timeout and
// under 2 s of backoff instead of hanging; a provider that answers 5xx or throttles is retried over
// 16-32 s (8 attempts), so a burst of provider errors does not fail a long backup.
export interface S3ClientTuning {
  // Time to establish a TCP/TLS connection.
  connectionTimeoutMs: number;
  // A connection that moves no bytes for this long is dropped (idle timeout, not a total request time:
  // a 100 MiB part on a slow link may take minutes and that is fine as long as bytes flow).
  socketTimeoutMs: number;
  // Total attempts per request, including the first (see s3-retry.ts for what is retried), when the
  // provider answers (5xx, throttling) ...
  maxAttempts: number;
  // ... and when nothing answers (connection refused or reset, timeout); never more than maxAttempts.
  unansweredMaxAttempts: number;
  // Backoff before retry n: between half and all of min(retryMaxDelayMs, retryBaseDelayMs × 2^(n-1)).
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
}

export const DEFAULT_S3_TUNING: S3ClientTuning = {
  connectionTimeoutMs: 5_000,
  socketTimeoutMs: 60_000,
  maxAttempts: 8,
  unansweredMaxAttempts: 4,
  // 7 retries wait 16-32 s in all: a provider's 5xx burst or a 30-s blip is ridden out.
  retryBaseDelayMs: 250,
  retryMaxDelayMs: 20_000,
};

// Throttling (SlowDown, 429) asks to slow down: its backoff starts higher.
const THROTTLE_BASE_DELAY_MS = 1_000;

// The one place that builds an S3 client from settings (and the only place the secret key is revealed).
// Checksums are sent and validated only when an operation requires them: the SDK's default CRC32
// checksums broke uploads to Cloudflare R2.
export function createS3Client(settings: S3Settings, tuning: Partial<S3ClientTuning> = {}): S3Client {
  const limits = { ...DEFAULT_S3_TUNING, ...tuning };
  const config: S3ClientConfig = {
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: limits.maxAttempts,
    retryStrategy: new BackoffRetryStrategy(
      {
        maxAttempts: limits.maxAttempts,
        unansweredMaxAttempts: limits.unansweredMaxAttempts,
        baseMs: limits.retryBaseDelayMs,
        throttleBaseMs: Math.max(limits.retryBaseDelayMs, Math.min(THROTTLE_BASE_DELAY_MS, limits.retryMaxDelayMs)),
        maxMs: limits.retryMaxDelayMs,
      },
      Math.random,
      () => requestSignal.getStore(),
    ),
    requestHandler: {
      connectionTimeout: limits.connectionTimeoutMs,
      socketTimeout: limits.socketTimeoutMs,
    },
  };
  if (settings.endpoint !== undefined) config.endpoint = settings.endpoint;
  if (settings.accessKeyId !== undefined && settings.secretAccessKey !== undefined) {
    config.credentials = {
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey.reveal(),
    };
  }
  // Without explicit keys the SDK's default chain applies (instance roles, AWS_PROFILE, ...).
  // The SDK warns on every Node 20 process that its future versions need Node 22; the locked version
  // works, the image runs a current LTS, and the 8-line warning buries our own messages on stderr.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new (s3Sdk().S3Client)(config);
  addContentMd5ToDeleteObjects(client);
  shareAbortSignalWithRetries(client);
  return client;
}

// The abort signal of the request being sent, for the retry strategy's back-off wait (the SDK hands
// the strategy no signal). Every call of client.send runs in its own context.
const requestSignal = new AsyncLocalStorage<AbortSignal | undefined>();

function shareAbortSignalWithRetries(client: S3Client): void {
  const send = client.send.bind(client) as (...args: unknown[]) => unknown;
  const withSignal = (...args: unknown[]): unknown => {
    const options = args[1] as { abortSignal?: unknown } | undefined;
    const signal = options?.abortSignal instanceof AbortSignal ? options.abortSignal : undefined;
    return requestSignal.run(signal, () => send(...args));
  };
  client.send = withSignal as S3Client['send'];
}

// DeleteObjects must carry an integrity header. The SDK sends x-amz-checksum-crc32, which AWS accepts
// but some S3-compatible servers (older MinIO, other gateways) do not: send Content-MD5, which every
// implementation accepts, instead (the fallback the AWS SDK documentation gives for such servers).
function addContentMd5ToDeleteObjects(client: S3Client): void {
  type Args = { request?: { headers?: Record<string, string>; body?: unknown } };
  const middleware =
    (next: (args: Args) => Promise<unknown>, context: { commandName?: string }) =>
    async (args: Args): Promise<unknown> => {
      const request = args.request;
      if (context.commandName === 'DeleteObjectsCommand' && request?.headers && typeof request.body === 'string') {
        for (const name of Object.keys(request.headers)) {
          const lower = name.toLowerCase();
          if (lower.startsWith('x-amz-checksum-') || lower === 'x-amz-sdk-checksum-algorithm') delete request.headers[name];
        }
        request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
      }
      return next(args);
    };
  // 'build' step, low priority: runs after the SDK's checksum middleware and before signing.
  const options = { step: 'build', priority: 'low', name: 'contentMd5ForDeleteObjects', override: true };
  client.middlewareStack.add(middleware as never, options as never);
}

// "s3://bucket" or "s3://bucket at https://endpoint" for messages; never holds credentials.
export function describeS3(settings: S3Settings): string {
  return settings.endpoint ? `s3://${settings.bucket} at ${redactUrl(settings.endpoint)}` : `s3://${settings.bucket}`;
}

// Drops any user:password@ and query string an endpoint URL might carry.
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(invalid endpoint URL)';
  }
}
