import { StorageError, type StorageErrorCode } from '../errors.ts';

// What an S3 call was doing, for the message: the operation, where, and which key.
export interface S3CallContext {
  operation: string;
  // describeS3(settings): "s3://bucket at https://endpoint", never credentials.
  where: string;
  key?: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
const NETWORK_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'NetworkingError']);
const CREDENTIAL_NAMES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
  'InvalidSecurity',
]);

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

// Classifies any error an S3 call threw (SDK service error, network error, abort) as a StorageError
// whose code the monitor turns into a finding and whose message names bucket and endpoint, never secrets.
export function toStorageError(error: unknown, context: S3CallContext): StorageError {
  if (error instanceof StorageError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as ErrorShape;
  const name = typeof shape.name === 'string' ? shape.name : '';
  const status = shape.$metadata?.httpStatusCode;
  const code = classify(error, name, status);
  const target = context.key === undefined ? context.where : `${context.key} in ${context.where}`;
  const detail = describeCause(error, name, status);
  const options = { cause: error, hint: hintFor(code, context, name, status), details: `${context.operation} failed: ${detail}` };
  return new StorageError(code, `${summaryFor(code, name, status)} (${context.operation} ${target})`, options);
}

const SUMMARY: Record<StorageErrorCode, string> = {
  AccessDenied: 'S3 access denied',
  NoSuchBucket: 'S3 bucket does not exist',
  NoSuchKey: 'S3 object does not exist',
  InvalidCredentials: 'S3 credentials rejected',
  Network: 'S3 endpoint unreachable',
  NotImplemented: 'S3 endpoint does not implement this call',
  Aborted: 'S3 request aborted',
  Unknown: 'S3 request failed',
};

// Throttling answers: the provider asks to slow down (the same names the SDK's retry classifies).
const THROTTLING_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded', 'BandwidthLimitExceeded']);

function isThrottling(name: string, status: number | undefined): boolean {
  return THROTTLING_NAMES.has(name) || status === 429;
}

// An answer from the provider saying that it failed (5xx), as opposed to refusing our request.
function isProviderFailure(name: string, status: number | undefined): boolean {
  return (status !== undefined && status >= 500 && status !== 501) || name === 'InternalError' || name === 'ServiceUnavailable';
}

function summaryFor(code: StorageErrorCode, name: string, status: number | undefined): string {
  if (code === 'Unknown' && isThrottling(name, status)) return 'S3 provider is throttling requests';
  if (code === 'Unknown' && isProviderFailure(name, status)) return 'S3 provider failed the request';
  return SUMMARY[code];
}

function classify(error: unknown, name: string, status: number | undefined): StorageErrorCode {
  if (name === 'AbortError') return 'Aborted';
  if (name === 'AccessDenied' || name === 'AllAccessDisabled' || name === 'AccountProblem') return 'AccessDenied';
  if (name === 'NoSuchBucket') return 'NoSuchBucket';
  if (name === 'NoSuchKey' || name === 'NotFound') return 'NoSuchKey';
  if (CREDENTIAL_NAMES.has(name)) return 'InvalidCredentials';
  if (name === 'NotImplemented' || status === 501) return 'NotImplemented';
  if (isNetworkError(error)) return 'Network';
  // Bodiless answers (HEAD) carry only the status.
  if (status === 403) return 'AccessDenied';
  if (status === 404) return 'NoSuchKey';
  return 'Unknown';
}

function isNetworkError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const shape = current as ErrorShape;
    if (typeof shape.code === 'string' && NETWORK_CODES.has(shape.code)) return true;
    if (typeof shape.name === 'string' && NETWORK_NAMES.has(shape.name)) return true;
    current = shape.cause;
  }
  return false;
}

function describeCause(error: unknown, name: string, status: number | undefined): string {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as ErrorShape;
  const message = typeof shape.message === 'string' ? shape.message : String(error);
  const code = typeof shape.code === 'string' ? shape.code : undefined;
  const parts = [name && name !== 'Error' ? name : undefined, code, status ? `HTTP ${status}` : undefined];
  const attempts = shape.$metadata?.attempts;
  if (attempts && attempts > 1) parts.push(`after ${attempts} attempts`);
  const label = parts.filter(Boolean).join(', ');
  return label ? `${label}: ${message}` : message;
}

function hintFor(code: StorageErrorCode, context: S3CallContext, name: string, status: number | undefined): string {
  switch (code) {
    case 'AccessDenied':
      return `check that the key in AWS_ACCESS_KEY_ID may read, write, list and delete objects in ${context.where} (for R2: an API token with Object Read & Write on this bucket)`;
    case 'NoSuchBucket':
      return `check that AWS_S3_BUCKET names a bucket that exists at this endpoint (${context.where}); create it, or fix the name, AWS_S3_ENDPOINT or AWS_S3_REGION`;
    case 'InvalidCredentials':
      if (name === 'InvalidAccessKeyId') {
        return `the endpoint does not know the key in AWS_ACCESS_KEY_ID: check it (no stray spaces or quotes), that it was not deleted or rotated, and that it belongs to the account of ${context.where} (for R2 use the S3 API token pair, not the Cloudflare API token); AWS_SECRET_ACCESS_KEY must be its pair`;
      }
      if (name === 'SignatureDoesNotMatch') {
        return 'the key in AWS_ACCESS_KEY_ID is known but AWS_SECRET_ACCESS_KEY is not its secret: paste the secret of that same key pair again (no stray spaces or quotes); a proxy that rewrites requests or AWS_S3_REGION for a region-bound endpoint can also cause this';
      }
      return 'check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (no stray spaces or quotes; for R2 use the S3 API token pair, not the Cloudflare API token)';
    case 'Network':
      return 'check that AWS_S3_ENDPOINT is right and reachable from this host (DNS, firewall, proxy) and that the storage service is up';
    case 'NotImplemented':
      return 'this storage service does not support the call; backup-sentinel falls back where it can (e.g. RETENTION_MODE=prune instead of lifecycle rules)';
    case 'NoSuchKey':
      return 'list the backups (backup-sentinel list) and use one of the keys shown';
    case 'Aborted':
      return 'the operation was cancelled (shutdown or a failed earlier stage); nothing was stored';
    case 'Unknown':
      if (isThrottling(name, status)) {
        return `the provider of ${context.where} is throttling our requests, asking us to slow down (HTTP ${status ?? '?'}${name ? ` ${name}` : ''}) even after backing off: this is a rate limit on its side, not a setting here; the next run tries again, and if it keeps happening check the provider's limits for this bucket`;
      }
      if (isProviderFailure(name, status)) {
        return `the provider of ${context.where} answered HTTP ${status ?? '5xx'}${name ? ` (${name})` : ''} even after retries with backoff: this is trouble on the provider's side, not your settings; check its status page, the next run tries again`;
      }
      return `check AWS_S3_ENDPOINT, AWS_S3_REGION and AWS_S3_FORCE_PATH_STYLE (true for R2 and MinIO) for ${context.where}`;
  }
}
