/**
 * An HTTP error with RabbitMQ's response shape. Most carry a JSON body
 * `{"error": …, "reason": …}`; some of RabbitMQ's answers have an empty body (401 without
 * credentials, 405, 500), which `error: null` selects
 * (../shared/reference/management-samples/error-*.json).
 */
export class HttpError extends Error {
  override name = 'HttpError';

  constructor(
    readonly status: number,
    readonly error: string | null,
    readonly reason = '',
    readonly headers: Record<string, string> = {},
  ) {
    super(`${status} ${error ?? ''} ${reason}`);
  }
}

/** rabbitmq-compat: every missing object (vhost, queue, exchange, user, path) answers the same. */
export function notFound(): HttpError {
  return new HttpError(404, 'Object Not Found', 'Not Found');
}

export function badRequest(reason: string): HttpError {
  return new HttpError(400, 'bad_request', reason);
}

/** A domain error's text without its "NOT_FOUND - " prefix, as the API reports it. */
export function detailOf(replyText: string): string {
  return replyText.replace(/^[A-Z_]+ - /, '');
}
