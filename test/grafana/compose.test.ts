import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config/load-config.ts';
import { VARIABLES } from '../../src/config/variables.ts';
import { COMPOSE_FILE, PROMETHEUS_FILE, readYaml } from './files.ts';

// No Docker engine runs here: docker-compose.yml is checked as data (YAML, services, mounts, and the
// service's environment through the real config loader). `docker compose config` runs only where the
// compose plugin is installed.

interface Service {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string | string[] };
  volumes?: string[];
  ports?: string[];
  configs?: { source: string; target: string }[];
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { content?: string; file?: string }>;
}

const compose = readYaml<Compose>(COMPOSE_FILE);
const service = (name: string): Service => {
  const s = compose.services[name];
  assert.ok(s, `no service "${name}" in ${COMPOSE_FILE}`);
  return s;
};
const sentinelEnv = (): Record<string, string> => service('backup-sentinel').environment ?? {};
const bindMounts = (s: Service): { source: string; target: string }[] =>
  (s.volumes ?? [])
    .filter((v) => v.startsWith('./'))
    .map((v) => {
      const [source = '', target = ''] = v.split(':');
      return { source, target };
    });

const composeVersion = await promisify(execFile)('docker', ['compose', 'version']).then(
  () => true,
  () => false,
);

describe('docker-compose.yml', () => {
  it('has PostgreSQL, MinIO with a one-shot bucket creation, backup-sentinel, Prometheus and Grafana', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['backup-sentinel', 'grafana', 'minio', 'minio-init', 'postgres', 'prometheus']);
    assert.match(JSON.stringify(service('postgres').healthcheck?.test), /pg_isready/);
    const init = JSON.stringify(service('minio-init').command);
    assert.match(init, new RegExp(`mc mb --ignore-existing local/${sentinelEnv().AWS_S3_BUCKET ?? '?'}\\b`));
  });

  it('backup-sentinel is built from the Dockerfile and starts after the database is healthy and the bucket exists', () => {
    const s = service('backup-sentinel');
    const context = typeof s.build === 'string' ? s.build : s.build?.context;
    assert.equal(context, '.');
    assert.ok(fs.existsSync('Dockerfile'));
    assert.deepEqual(s.depends_on, { postgres: { condition: 'service_healthy' }, 'minio-init': { condition: 'service_completed_successfully' } });
  });

  it("backup-sentinel's environment names only variables the service reads, and the config loader accepts it", () => {
    const env = sentinelEnv();
    const known = new Set(VARIABLES.map((v) => v.name));
    assert.deepEqual(Object.keys(env).filter((k) => !known.has(k)), []);
    const config = loadConfig(env);
    assert.equal(config.storage.kind, 's3');
    assert.equal(config.backup?.runOnStartup, true);
    assert.equal(config.retention.manageLifecycle, true);
    assert.ok(config.verify.restoreUrl !== undefined, 'no restore drill in the trial');
  });

  it('backup-sentinel points at the compose PostgreSQL and MinIO, and Prometheus scrapes it on its port', () => {
    const env = sentinelEnv();
    assert.ok(compose.services[new URL(env.BACKUP_DATABASE_URL ?? '').hostname], 'BACKUP_DATABASE_URL host is not a compose service');
    assert.equal(new URL(env.AWS_S3_ENDPOINT ?? '').hostname, 'minio');
    const port = loadConfig(env).http.port;
    const prometheus = readYaml<{ scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] }>(PROMETHEUS_FILE);
    const targets = prometheus.scrape_configs.find((c) => c.job_name === 'backup-sentinel')?.static_configs.flatMap((c) => c.targets);
    assert.deepEqual(targets, [`backup-sentinel:${port}`]);
    assert.ok(service('backup-sentinel').ports?.some((p) => p.endsWith(`:${port}`)));
  });

  it('Prometheus gets its configuration and the rules where prometheus.yml looks for them; Grafana gets provisioning', () => {
    const prometheus = readYaml<{ rule_files: string[] }>(PROMETHEUS_FILE);
    const mounts = bindMounts(service('prometheus'));
    assert.ok(mounts.some((m) => m.source === `./${PROMETHEUS_FILE}` && m.target === '/etc/prometheus/prometheus.yml'));
    for (const rules of prometheus.rule_files) assert.ok(mounts.some((m) => m.target === rules), `${rules} is not mounted`);
    for (const kind of ['datasources', 'dashboards']) {
      const folder = `grafana/provisioning/${kind}`;
      assert.ok(bindMounts(service('grafana')).some((m) => m.source === `./${folder}` && m.target === `/etc/${folder}`), `${folder} is not mounted`);
    }
  });

  it('every bind-mounted file or folder exists in the repository, and published ports bind to localhost only', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const m of bindMounts(s)) assert.ok(fs.existsSync(m.source), `${name}: ${m.source} does not exist`);
      for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name} publishes ${p} on every interface`);
      for (const c of s.configs ?? []) assert.ok(compose.configs?.[c.source], `${name}: unknown config ${c.source}`);
      for (const v of (s.volumes ?? []).filter((v) => !v.startsWith('./'))) {
        assert.ok(compose.volumes && v.split(':')[0]! in compose.volumes, `${name}: volume ${v} is not declared`);
      }
    }
  });

  it('`docker compose config` accepts the file', { skip: composeVersion ? false : 'the docker compose plugin is not installed here' }, async () => {
    await promisify(execFile)('docker', ['compose', '-f', COMPOSE_FILE, 'config', '--quiet']);
  });
});
