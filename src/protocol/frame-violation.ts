/**
 * A frame that is well-formed but not allowed where it arrived (a content header with no
 * basic.publish before it, a method where a body was due). Carries the reply code and
 * RabbitMQ's text; the session closes the connection with it.
 */
export class FrameViolation extends Error {
  override name = 'FrameViolation';
  constructor(
    readonly code: number,
    readonly text: string,
    readonly classId = 0,
    readonly methodId = 0,
  ) {
    super(text);
  }
}
