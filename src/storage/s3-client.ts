import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config/types.ts';

// Network limits of every S3 request. A dead or black-holed endpoint fails within
// attempts × (connect timeout + backoff), about 25 s with the defaults, instead of hanging.
export interface S3ClientTuning {
  // Time to establish a TCP/TLS connection.
  connectionTimeoutMs: number;
  // A connection that moves no bytes for this long is dropped (idle timeout, not a total request time:
  // a 100 MiB part on a slow link may take minutes and that is fine as long as bytes flow).
  socketTimeoutMs: number;
  // Total attempts per request, including the first (the SDK's standard retry mode, with backoff).
  maxAttempts: number;
}

export const DEFAULT_S3_TUNING: S3ClientTuning = {
  connectionTimeoutMs: 5_000,
  socketTimeoutMs: 60_000,
  maxAttempts: 4,
};

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
    retryMode: 'standard',
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
  return new S3Client(config);
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
