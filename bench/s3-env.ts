// The environment that points the service at the bench's S3 server child (s3rver, path style, its fixed keys).
export function benchS3Env(s3: { bucket: string; endpoint: string; subfolder?: string }): Record<string, string> {
  return {
    AWS_S3_BUCKET: s3.bucket,
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_REGION: 'auto',
    AWS_S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    ...(s3.subfolder === undefined ? {} : { BUCKET_SUBFOLDER: s3.subfolder }),
  };
}
