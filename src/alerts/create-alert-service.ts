import type { Registry } from 'prom-client';
import { keyPrefix } from '../core/naming.ts';
import type { AlertSettings, Config } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { AlertService } from './alert-service.ts';
import type { RetryPolicy, Sleep } from './dispatcher.ts';
import { EmailNotifier } from './email.ts';
import type { MessageContext } from './format-message.ts';
import type { Notifier } from './notifier.ts';
import { SlackNotifier } from './slack.ts';
import { DiscordNotifier } from './discord.ts';
import { NtfyNotifier } from './ntfy.ts';
import { TeamsNotifier } from './teams.ts';
import { TelegramNotifier } from './telegram.ts';
import { WebhookNotifier } from './webhook.ts';
import { LocalFileAlertState, MirroredAlertState } from './local-state.ts';
import { BackupStoreAlertState, describeKeyIn, type AlertStateStore } from './state-store.ts';

export interface NotifierTimeouts {
  slackTimeoutMs?: number;
  emailTimeoutMs?: number;
}

// One notifier per ALERT_URLS entry, in order.
function createUrlNotifiers(settings: AlertSettings): Notifier[] {
  return settings.channels.map((target) => {
    switch (target.kind) {
      case 'discord':
        return new DiscordNotifier(target);
      case 'telegram':
        return new TelegramNotifier(target);
      case 'ntfy':
        return new NtfyNotifier(target);
      case 'teams':
        return new TeamsNotifier(target);
      case 'webhook':
        return new WebhookNotifier(target, { sentinel: settings.name, secret: settings.webhookSecret });
    }
  });
}

// One notifier per configured channel (Slack first, then e-mail, then ALERT_URLS), none when none is set.
export function createNotifiers(settings: AlertSettings, timeouts: NotifierTimeouts = {}): Notifier[] {
  const notifiers: Notifier[] = [];
  if (settings.slackWebhookUrl !== undefined) {
    notifiers.push(new SlackNotifier(settings.slackWebhookUrl, timeouts.slackTimeoutMs === undefined ? {} : { timeoutMs: timeouts.slackTimeoutMs }));
  }
  if (settings.email !== undefined) {
    notifiers.push(new EmailNotifier(settings.email, timeouts.emailTimeoutMs === undefined ? {} : { timeoutMs: timeouts.emailTimeoutMs }));
  }
  notifiers.push(...createUrlNotifiers(settings));
  return notifiers;
}

// What messages say about this deployment: its name, where the backups are, the runbook.
export function messageContext(config: Pick<Config, 'alerts' | 'location'>, store: Pick<BackupStore, 'description'>): MessageContext {
  return {
    name: config.alerts.name,
    where: describeKeyIn(store.description, keyPrefix(config.location)),
    runbookUrl: config.alerts.runbookUrl,
  };
}

export interface CreateAlertServiceOptions {
  config: Pick<Config, 'alerts' | 'location'>;
  store: BackupStore;
  logger: Logger;
  registry: Registry;
  // Tests shorten the waits between retries.
  retry?: Partial<RetryPolicy>;
  sleep?: Sleep;
}

// The alert state beside the backups, mirrored by a local copy in STATE_DIR (see docs/alerts.md).
function createAlertStateStore(config: Pick<Config, 'alerts' | 'location'>, store: BackupStore): AlertStateStore {
  const stored = new BackupStoreAlertState(store, config.location.subfolder);
  return new MirroredAlertState(new LocalFileAlertState(config.alerts.stateDir, stored.location), stored);
}

// The composition root's one call: channels from the config, state beside the backups.
export function createAlertService({ config, store, logger, registry, retry, sleep }: CreateAlertServiceOptions): AlertService {
  return new AlertService({
    ...(retry === undefined ? {} : { retry }),
    ...(sleep === undefined ? {} : { sleep }),
    context: messageContext(config, store),
    repeatHours: config.alerts.repeatHours,
    notifiers: createNotifiers(config.alerts),
    stateStore: createAlertStateStore(config, store),
    logger,
    registry,
  });
}
