import { createRequire } from 'node:module';
import type * as S3Sdk from '@aws-sdk/client-s3';

const require = createRequire(import.meta.url);
let sdk: typeof S3Sdk | undefined;

// The AWS SDK's S3 client, loaded when the first S3 store, client or command is made rather than when
// a module that could make one is imported: loading it costs ~0.3-1 s of CPU, which every CLI command
// and every service on a directory store would otherwise pay for nothing. (The SDK is CommonJS, so it
// loads synchronously, and an `import` of it elsewhere gets the same module and classes.)
export function s3Sdk(): typeof S3Sdk {
  sdk ??= require('@aws-sdk/client-s3') as typeof S3Sdk;
  return sdk;
}
