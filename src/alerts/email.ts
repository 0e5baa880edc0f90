import type { EmailSettings } from '../config/types.ts';
import { AlertDeliveryError } from '../errors.ts';
import { buildEmailBody } from './email-body.ts';
import type { AlertMessage } from './format-message.ts';
import { scrubSecrets, type Notifier } from './notifier.ts';

export interface EmailNotifierOptions {
  // Connect, greeting and idle-socket limit for one delivery.
  timeoutMs?: number;
}

interface SmtpFailure {
  code?: unknown;
  responseCode?: unknown;
  response?: unknown;
}

// Sends messages over SMTP with nodemailer, one connection per message (alerts are rare). The
// password is given to nodemailer only; errors are rebuilt from codes and the server's reply line.
export class EmailNotifier implements Notifier {
  readonly channel = 'email' as const;
  readonly description: string;
  readonly #settings: EmailSettings;
  readonly #timeoutMs: number;

  constructor(settings: EmailSettings, options: EmailNotifierOptions = {}) {
    this.#settings = settings;
    this.#timeoutMs = options.timeoutMs ?? 20_000;
    this.description = `e-mail to ${settings.to.join(', ')} via ${settings.host}:${settings.port}`;
  }

  async send(message: AlertMessage, signal: AbortSignal): Promise<void> {
    const s = this.#settings;
    // Loaded on the first e-mail, not at start: every process that sends none (each CLI command, a
    // service without SMTP) saves nodemailer's load time.
    const { default: nodemailer } = await import('nodemailer');
    const transport = nodemailer.createTransport({
      host: s.host,
      port: s.port,
      secure: s.secure,
      ...(s.user === undefined ? {} : { auth: { user: s.user, pass: s.password?.reveal() ?? '' } }),
      connectionTimeout: this.#timeoutMs,
      greetingTimeout: this.#timeoutMs,
      socketTimeout: this.#timeoutMs,
      logger: false,
      debug: false,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    const body = buildEmailBody(message);
    const onAbort = (): void => transport.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      signal.throwIfAborted();
      const info = await transport.sendMail({ from: s.from, to: s.to, subject: body.subject, text: body.text, html: body.html });
      const rejected = (info.rejected as unknown[]).length;
      if (rejected > 0 && (info.accepted as unknown[]).length === 0) {
        throw new AlertDeliveryError(`${this.description}: every recipient was refused`, true, { hint: 'check ALERT_EMAIL_TO' });
      }
    } catch (error) {
      if (error instanceof AlertDeliveryError) throw error;
      // Cut off by shutdown: not the channel's fault, so not permanent; the message stays pending.
      if (signal.aborted) throw new AlertDeliveryError('E-mail delivery stopped: the service is shutting down; it is sent after the restart', false);
      throw this.#classify(error);
    } finally {
      signal.removeEventListener('abort', onAbort);
      transport.close();
    }
  }

  #classify(error: unknown): AlertDeliveryError {
    const failure = (typeof error === 'object' && error !== null ? error : {}) as SmtpFailure;
    const code = typeof failure.code === 'string' ? failure.code : 'unknown';
    const responseCode = typeof failure.responseCode === 'number' ? failure.responseCode : undefined;
    const reply =
      typeof failure.response === 'string'
        ? ` (server said: ${scrubSecrets(failure.response.split('\n')[0] ?? '', [this.#settings.password?.reveal()]).slice(0, 200)})`
        : '';
    const where = `SMTP server ${this.#settings.host}:${this.#settings.port}`;
    if (code === 'EAUTH' || code === 'ENOAUTH') {
      const temporary = responseCode !== undefined && responseCode >= 400 && responseCode < 500;
      return new AlertDeliveryError(`${where} refused the login of ${this.#settings.user ?? '(no user)'}${reply}`, !temporary, {
        hint: 'check SMTP_USER and SMTP_PASSWORD (or the user:password in SMTP_URL); some providers need an app password',
      });
    }
    if (code === 'ETLS' || code === 'EREQUIRETLS') {
      return new AlertDeliveryError(`${where}: TLS failed (${code})${reply}`, true, {
        hint: 'use smtps:// / SMTP_SECURE=true with port 465, and smtp:// / SMTP_SECURE=false with port 587 (STARTTLS)',
      });
    }
    if (code === 'EENVELOPE') {
      return new AlertDeliveryError(`${where} refused the sender or recipients${reply}`, true, {
        hint: 'check ALERT_EMAIL_FROM (the server may only accept its own domain) and ALERT_EMAIL_TO',
      });
    }
    if (['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'EPROXY', 'ECONNREFUSED', 'ECONNRESET'].includes(code)) {
      return new AlertDeliveryError(`${where} unreachable (${code})${reply}`, false, {
        hint: 'check SMTP_HOST/SMTP_PORT (or SMTP_URL) and that this host may connect to it; it will be retried',
      });
    }
    if (responseCode !== undefined && responseCode >= 400 && responseCode < 500) {
      return new AlertDeliveryError(`${where} deferred the message (${responseCode})${reply}`, false, { hint: 'it will be retried' });
    }
    if (responseCode !== undefined && responseCode >= 500) {
      return new AlertDeliveryError(`${where} rejected the message (${responseCode})${reply}`, true, {
        hint: 'read the server reply above; check ALERT_EMAIL_FROM and ALERT_EMAIL_TO',
      });
    }
    return new AlertDeliveryError(`${where}: delivery failed (${code})${reply}`, false, { hint: 'it will be retried' });
  }
}
