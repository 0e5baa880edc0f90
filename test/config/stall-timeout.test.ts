import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { ConfigError } from '../../src/errors.ts';

const base = { BACKUP_DATABASE_URL: 'postgres://u:p@db:5432/app' };

describe('BACKUP_STALL_TIMEOUT_MINUTES', () => {
  it('defaults to 5 minutes and takes decimals', () => {
    assert.equal(loadConfig(base).backup?.stallTimeoutMs, 300_000);
    assert.equal(loadConfig({ ...base, BACKUP_STALL_TIMEOUT_MINUTES: '0.05' }).backup?.stallTimeoutMs, 3_000);
  });

  it('refuses what is not a positive number of minutes, naming the variable, the range and the value', () => {
    for (const value of ['0', '-1', 'ten', '5m']) {
      assert.throws(
        () => loadConfig({ ...base, BACKUP_STALL_TIMEOUT_MINUTES: value }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /BACKUP_STALL_TIMEOUT_MINUTES: expected a number from 0\.01 to 1440, got/.test(error.message) &&
          error.message.includes(JSON.stringify(value)),
      );
    }
  });
});
