// The environment handed to child processes (pg_dump, zstd): only what they need, so the service's
// own secrets (BACKUP_DATABASE_URL, AWS keys, webhook URLs) never reach a child or its /proc entry.
const PASSED = /^(PATH|HOME|LANG|LANGUAGE|LC_[A-Z_]+|TZ|TMPDIR|PG(?!PASSWORD$)[A-Z_]+)$/;

export function childEnv(extra: Record<string, string | undefined> = {}, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && PASSED.test(name)) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined) env[name] = value;
  }
  return env;
}
