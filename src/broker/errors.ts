/**
 * Domain errors: a reply code and RabbitMQ's exact reply text. Soft codes close the channel,
 * hard codes the connection (`isHard`). The session adds the class and method ids of the
 * method being handled.
 */
export const REPLY = {
  CONTENT_TOO_LARGE: 311,
  NO_ROUTE: 312,
  NO_CONSUMERS: 313,
  CONNECTION_FORCED: 320,
  INVALID_PATH: 402,
  ACCESS_REFUSED: 403,
  NOT_FOUND: 404,
  RESOURCE_LOCKED: 405,
  PRECONDITION_FAILED: 406,
  FRAME_ERROR: 501,
  SYNTAX_ERROR: 502,
  COMMAND_INVALID: 503,
  CHANNEL_ERROR: 504,
  UNEXPECTED_FRAME: 505,
  RESOURCE_ERROR: 506,
  NOT_ALLOWED: 530,
  NOT_IMPLEMENTED: 540,
  INTERNAL_ERROR: 541,
} as const;

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(REPLY).map(([k, v]) => [v, k]));
const HARD = new Set<number>([320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541]);

export class AmqpError extends Error {
  override name = 'AmqpError';
  /** Full reply text as sent: "NOT_FOUND - no queue 'x' in vhost '/'". */
  readonly replyText: string;
  classId = 0;
  methodId = 0;

  constructor(readonly code: number, detail: string, readonly forceConnection = false) {
    const text = `${NAMES[code] ?? 'ERROR'} - ${detail}`;
    super(text);
    this.replyText = text.length > 255 ? text.slice(0, 255) : text;
  }

  get isHard(): boolean {
    return this.forceConnection || HARD.has(this.code);
  }
}

export const notFound = (d: string): AmqpError => new AmqpError(REPLY.NOT_FOUND, d);
export const accessRefused = (d: string): AmqpError => new AmqpError(REPLY.ACCESS_REFUSED, d);
export const preconditionFailed = (d: string): AmqpError => new AmqpError(REPLY.PRECONDITION_FAILED, d);
export const resourceLocked = (d: string): AmqpError => new AmqpError(REPLY.RESOURCE_LOCKED, d);
export const commandInvalid = (d: string): AmqpError => new AmqpError(REPLY.COMMAND_INVALID, d);
export const notAllowed = (d: string): AmqpError => new AmqpError(REPLY.NOT_ALLOWED, d);
export const notImplemented = (d: string): AmqpError => new AmqpError(REPLY.NOT_IMPLEMENTED, d);
