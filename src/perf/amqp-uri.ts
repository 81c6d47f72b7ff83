/**
 * amqp://user:pass@host:port/vhost, as RabbitMQ's URI spec reads it: user, password and vhost
 * are percent-decoded; an absent path is the vhost "/", a path "/" is the vhost "" (RabbitMQ
 * treats "amqp://host/" as the empty vhost name; clients rarely mean that, so we follow the
 * common reading and map both to "/"); "%2f" is "/". amqps is not spoken by perf.
 */
export interface AmqpUri {
  host: string;
  port: number;
  user: string;
  pass: string;
  vhost: string;
}

export function parseAmqpUri(uri: string): AmqpUri {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new Error(`not a URI: ${uri}`);
  }
  if (u.protocol !== 'amqp:') throw new Error(`perf speaks amqp:// only, not ${u.protocol}//`);
  const path = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || 'localhost',
    port: u.port === '' ? 5672 : Number(u.port),
    user: u.username === '' ? 'guest' : decodeURIComponent(u.username),
    pass: u.password === '' ? 'guest' : decodeURIComponent(u.password),
    vhost: path === '' ? '/' : decodeURIComponent(path),
  };
}

/** The URI with its password hidden, for logs and result files. */
export function maskUri(uri: string): string {
  try {
    const u = new URL(uri);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return uri;
  }
}
