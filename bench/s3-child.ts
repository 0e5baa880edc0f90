// The benchmark's local S3 server in its own process, so its CPU is not counted as the service's.
// Prints {"endpoint":...,"bucket":...,"directory":...} and runs until stdin closes.
import { startS3Server } from '../test/helpers/s3-server.ts';

const s3 = await startS3Server({ bucket: 'bench-backups' });
process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, port: s3.port, bucket: s3.bucket, directory: s3.directory })}\n`);
let closing: Promise<void> | undefined;
const close = async () => {
  closing ??= s3.close().then(() => process.exit(0));
  await closing;
};
process.stdin.on('end', () => void close());
process.stdin.on('close', () => void close());
process.stdin.resume();
process.on('SIGTERM', () => void close());
