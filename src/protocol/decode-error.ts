/**
 * Thrown by every decoder in protocol/ when bytes do not form what they claim to be
 * (truncated field, trailing garbage, unknown field-table type). The session layer turns it
 * into connection.close 501 FRAME_ERROR, as RabbitMQ does for "cannot decode".
 */
export class DecodeError extends Error {
  override name = 'DecodeError';
}
