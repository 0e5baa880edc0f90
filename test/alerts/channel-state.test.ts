import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channelFindings, MAX_PENDING_PER_CHANNEL, onlyChannels, withQueued, withRefused, withSent, type ChannelStates } from '../../src/alerts/channel-state.ts';
import type { AlertMessage } from '../../src/alerts/format-message.ts';
import { at } from './fixtures.ts';

const message = (kind: AlertMessage['kind'], subject: string): AlertMessage => ({ kind, tone: 'fail', subject, sections: [], footer: 'f' });
const subjectsOf = (states: ChannelStates): string[] => states.slack?.pending.map((p) => p.message.subject) ?? [];

// The per-channel delivery state is pure: these need no server.
describe('per-channel delivery state', () => {
  it('queues in order, replaces an owed reminder by any newer message, and keeps the newest within the cap', () => {
    let states: ChannelStates = {};
    states = withQueued(states, 'slack', message('firing', 'F1'), at(0));
    states = withQueued(states, 'slack', message('reminder', 'R1'), at(24));
    states = withQueued(states, 'slack', message('resolved', 'X1'), at(25));
    assert.deepEqual(subjectsOf(states), ['F1', 'X1']);
    for (let i = 0; i < MAX_PENDING_PER_CHANNEL + 5; i += 1) states = withQueued(states, 'slack', message('firing', `N${i}`), at(30 + i));
    assert.equal(subjectsOf(states).length, MAX_PENDING_PER_CHANNEL);
    assert.equal(subjectsOf(states).at(-1), `N${MAX_PENDING_PER_CHANNEL + 4}`);
  });

  it('a refusal keeps its first time, is a warn alert_channel finding, and ends with the next message taken', () => {
    let states = withQueued({}, 'slack', message('firing', 'F1'), at(0));
    const refusal = { description: 'Slack webhook on hooks.slack.com', error: 'answered HTTP 404 "no_service"', hint: 'create a new webhook' };
    states = withRefused(states, 'slack', { ...refusal, since: at(0).toISOString() });
    states = withRefused(states, 'slack', { ...refusal, since: at(1).toISOString() });
    const [finding] = channelFindings(states);
    assert.equal(finding?.check, 'alert_channel');
    assert.equal(finding?.severity, 'warn');
    assert.deepEqual(finding?.values, { channel: 'slack', refusedSince: at(0).toISOString(), undeliveredMessages: 1 });
    assert.match(finding?.hint ?? '', /^create a new webhook; the message it missed is sent once it accepts messages again/);
    assert.deepEqual(withSent(states, 'slack', 1), {});
    assert.deepEqual(channelFindings(withSent(states, 'slack', 0)), []);
  });

  it('a channel no longer configured owes nothing', () => {
    const states = withQueued(withQueued({}, 'slack', message('firing', 'F1'), at(0)), 'email', message('firing', 'F1'), at(0));
    assert.deepEqual(Object.keys(onlyChannels(states, ['email'])), ['email']);
  });
});
