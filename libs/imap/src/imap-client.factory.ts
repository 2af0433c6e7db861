import { Injectable, Logger } from '@nestjs/common';
import { ServerSettings } from '@pushmail/contracts';
import { ImapFlow, ImapFlowOptions } from 'imapflow';

export type ImapClientOptions = Omit<ImapFlowOptions, 'host' | 'port' | 'secure' | 'auth' | 'tls' | 'logger'>;

/**
 * Creates imapflow clients from stored account settings. TLS certificates are verified unless the
 * account itself opted out, and imapflow's own logger stays off because it logs raw protocol
 * lines, which include credentials and message content.
 */
@Injectable()
export class ImapClientFactory {
  private readonly logger = new Logger(ImapClientFactory.name);

  create(settings: ServerSettings, options: ImapClientOptions = {}): ImapFlow {
    const client = new ImapFlow({
      host: settings.host,
      port: settings.port,
      secure: settings.secure,
      auth: { user: settings.user, pass: settings.pass },
      tls: { rejectUnauthorized: settings.tlsRejectUnauthorized !== false },
      logger: false,
      connectionTimeout: 15_000,
      greetingTimeout: 10_000,
      socketTimeout: 5 * 60_000,
      ...options,
    });
    // A client without an 'error' listener crashes the process on a socket timeout (imapflow#302);
    // callers add their own listeners, this one only guarantees there is always one.
    client.on('error', (err: Error) => this.logger.debug({ msg: 'imap client error', host: settings.host, err }));
    return client;
  }
}
