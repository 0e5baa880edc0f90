import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildEmailBody } from '../../src/alerts/email-body.ts';
import { formatMessage, formatTestMessage, formatValues, runbookLink, type MessageContext } from '../../src/alerts/format-message.ts';
import type { Notification } from '../../src/alerts/policy.ts';
import { buildSlackPayload } from '../../src/alerts/slack-payload.ts';

const context: MessageContext = {
  name: 'vlvt-backups',
  where: 's3://vlvt-backups/db/backup-',
  runbookUrl: 'https://example.test/docs/RUNBOOK.md',
};
const at = new Date('2026-11-28T06:00:00Z');
const since = new Date('2026-11-27T03:00:00Z');

const firing: Notification = {
  kind: 'firing',
  at,
  started: [
    {
      check: 'stale',
      severity: 'fail',
      summary: 'no new backup for 27 h',
      values: { ageHours: 27, limitHours: 25 },
      hint: 'look at the backup job logs',
      since,
      escalated: false,
    },
  ],
  resolved: [],
  stillFiring: [
    {
      check: 'size_anomaly',
      severity: 'warn',
      summary: 'newest backup is 40% of the median <tiny> & odd',
      values: { newestBytes: 4_000_000, medianBytes: 10_000_000 },
      since,
      escalated: false,
    },
  ],
};

describe('alert messages', () => {
  it('the subject names the state, the deployment and what is wrong', () => {
    assert.equal(formatMessage(firing, context).subject, '[FIRING] vlvt-backups: no new backup for 27 h');
    const two = { ...firing, started: [...firing.started, { ...firing.started[0]!, check: 'empty' as const }] };
    assert.equal(formatMessage(two, context).subject, '[FIRING] vlvt-backups: no new backup for 27 h (+1 more)');
  });

  it('a long or multi-line summary is cut to one line in the subject', () => {
    const long = { ...firing, started: [{ ...firing.started[0]!, summary: `pg_dump failed:\n${'x'.repeat(300)}` }] };
    const subject = formatMessage(long, context).subject;
    assert.match(subject, /^\[FIRING\] vlvt-backups: pg_dump failed: x+…$/);
    assert.equal(subject.length, '[FIRING] vlvt-backups: '.length + 120);
  });

  it('resolved and reminder subjects say how long it lasted', () => {
    const resolved: Notification = {
      kind: 'resolved',
      at,
      started: [],
      resolved: [{ check: 'stale', severity: 'fail', summary: 'no new backup for 27 h', values: {}, since, endedAt: at, durationMs: 27 * 3_600_000 }],
      stillFiring: [],
    };
    assert.equal(formatMessage(resolved, context).subject, '[RESOLVED] vlvt-backups: backups are stale resolved after 27 h 0 min');
    const reminder: Notification = { kind: 'reminder', at, started: [], resolved: [], stillFiring: firing.started };
    assert.equal(formatMessage(reminder, context).subject, '[STILL FIRING] vlvt-backups: no new backup for 27 h (firing for 27 h 0 min)');
    assert.equal(formatMessage(resolved, context).tone, 'ok');
  });

  it('values get units from their names', () => {
    assert.deepEqual(formatValues({ ageHours: 27.123, limitHours: 25, newestBytes: 4_000_000, code: 'AccessDenied', count: 3 }), [
      'age: 27.12 h',
      'limit: 25 h',
      'newest: 3.8 MiB (4000000 B)',
      'code: AccessDenied',
      'count: 3',
    ]);
  });

  it('the runbook link points at the section of the check', () => {
    assert.equal(runbookLink(context.runbookUrl, 'size_anomaly'), 'https://example.test/docs/RUNBOOK.md#size-anomaly');
    assert.equal(runbookLink('https://wiki.test/page#ours', 'stale'), 'https://wiki.test/page#ours');
  });

  it('the Slack payload has a top-level text and blocks with severity, since, values, location and runbook', () => {
    const payload = buildSlackPayload(formatMessage(firing, context));
    assert.equal(payload.text, ':red_circle: [FIRING] vlvt-backups: no new backup for 27 h');
    const all = JSON.stringify(payload.blocks);
    assert.equal((payload.blocks[0] as { type: string }).type, 'header');
    assert.match(all, /:red_circle: \*Backups are stale\* · FAIL/);
    assert.match(all, /since 2026-11-27 03:00 UTC \(27 h 0 min ago\)/);
    assert.match(all, /age: 27 h/);
    assert.match(all, /limit: 25 h/);
    assert.match(all, /s3:\/\/vlvt-backups\/db\/backup-/);
    assert.match(all, /<https:\/\/example.test\/docs\/RUNBOOK.md#stale\|Runbook>/);
    assert.match(all, /:warning: \*Backup size anomaly\* · WARN/);
    // mrkdwn control characters from findings are escaped
    assert.match(all, /&lt;tiny&gt; &amp; odd/);
  });

  it('the e-mail has the subject, a plain-text part and an escaped HTML part', () => {
    const body = buildEmailBody(formatMessage(firing, context));
    assert.equal(body.subject, '[FIRING] vlvt-backups: no new backup for 27 h');
    assert.match(body.text, /\[FAIL\] Backups are stale\n {2}no new backup for 27 h\n {2}- since 2026-11-27 03:00 UTC/);
    assert.match(body.text, /What to do: look at the backup job logs/);
    assert.match(body.text, /Runbook: https:\/\/example.test\/docs\/RUNBOOK.md#stale/);
    assert.match(body.html, /&lt;tiny&gt; &amp; odd/);
    assert.doesNotMatch(body.html, /<tiny>/);
    assert.match(body.html, /href="https:\/\/example.test\/docs\/RUNBOOK.md#stale"/);
  });

  it('the test message says it is a test and needs no action', () => {
    const message = formatTestMessage(context, at);
    assert.equal(message.subject, '[TEST] vlvt-backups: alert delivery works');
    assert.match(buildEmailBody(message).text, /no action needed/);
  });
});
