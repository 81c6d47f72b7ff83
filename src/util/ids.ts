import { randomBytes } from 'node:crypto';

/**
 * RabbitMQ-style generated names: `amq.gen-` + 22 url-safe base64 chars (16 random bytes),
 * as in `amq.gen-JzTY20BRgKO-HjmUJj0wLg`; same for `amq.ctag-`.
 */
export function generatedName(prefix: string): string {
  return prefix + randomBytes(16).toString('base64url');
}
