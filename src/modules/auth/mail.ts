import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../platform/db/types.js';
import type { Logger } from '../../platform/observability/logger.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Outgoing mail. Messages carry secrets (reset links): adapters must never log the body. */
export interface MailPort {
  send(message: MailMessage, tx?: Queryable): Promise<void>;
}

/**
 * Development: the message goes to the log so a developer can follow the link. Only the message
 * line carries it; structured fields hold no secret.
 */
export class LogMailer implements MailPort {
  constructor(private readonly logger: Logger) {}

  async send(message: MailMessage): Promise<void> {
    this.logger.info({ mail: { subject: message.subject } }, `development mail: ${message.text}`);
  }
}

/**
 * Production without SMTP in-process: messages are queued in `auth_mail_outbox` in the caller's
 * transaction, for a relay to send and then clear the body.
 */
export class OutboxMailer implements MailPort {
  constructor(private readonly db: Queryable) {}

  async send(message: MailMessage, tx?: Queryable): Promise<void> {
    await (tx ?? this.db).query(
      'INSERT INTO auth_mail_outbox (id, recipient, subject, body) VALUES ($1, $2, $3, $4)',
      [randomUUID(), message.to, message.subject, message.text],
    );
  }
}
