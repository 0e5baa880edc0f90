import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { Secret } from '../../src/config/secret.ts';
import type { EmailSettings } from '../../src/config/types.ts';

export interface TestSmtpServerOptions {
  // Require this login (AUTH PLAIN/LOGIN over plain text, allowed here because it is a test).
  auth?: { user: string; password: string };
}

export interface TestSmtpServer {
  host: string;
  port: number;
  // Parsed mails received, in order.
  mails: ParsedMail[];
  // Logins tried (user names only).
  logins: string[];
  // Answers the next `count` messages (DATA) with this SMTP code, e.g. 451 (try later) or 554.
  failNextMessages(count: number, responseCode: number): void;
  // Email settings that point at this server.
  settings(overrides?: Partial<EmailSettings>): EmailSettings;
  close(): Promise<void>;
}

// An in-process SMTP server (smtp-server, from nodemailer's authors) on 127.0.0.1 and a free port,
// without TLS; it parses every mail with mailparser.
export async function startSmtpServer(options: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const mails: ParsedMail[] = [];
  const logins: string[] = [];
  let failures = 0;
  let failureCode = 451;
  const auth = options.auth;
  const server = new SMTPServer({
    secure: false,
    disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: auth === undefined,
    allowInsecureAuth: true,
    logger: false,
    // Lingering connections must not keep a test waiting (the default is 30 s).
    closeTimeout: 500,
    onAuth(login, _session, callback) {
      logins.push(login.username ?? '');
      if (auth && login.username === auth.user && login.password === auth.password) {
        callback(null, { user: login.username });
        return;
      }
      const error = new Error('Authentication failed') as Error & { responseCode: number };
      error.responseCode = 535;
      callback(error);
    },
    onData(stream, _session, callback) {
      if (failures > 0) {
        failures -= 1;
        stream.resume();
        stream.on('end', () => {
          const error = new Error(failureCode < 500 ? 'Try again later' : 'Message refused') as Error & { responseCode: number };
          error.responseCode = failureCode;
          callback(error);
        });
        return;
      }
      simpleParser(stream)
        .then((mail) => {
          mails.push(mail);
          callback();
        })
        .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  return {
    host: '127.0.0.1',
    port,
    mails,
    logins,
    failNextMessages(count, responseCode) {
      failures = count;
      failureCode = responseCode;
    },
    settings(overrides = {}) {
      return {
        host: '127.0.0.1',
        port,
        secure: false,
        user: auth?.user,
        password: auth ? new Secret(auth.password) : undefined,
        from: 'sentinel@example.test',
        to: ['oncall@example.test'],
        ...overrides,
      };
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
