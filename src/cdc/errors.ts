/**
 * Why a CDC message could not become a registration event. Every decode failure carries one of
 * these stable codes (they label the dead-letter metric and the `ulbridge-reason` header) and a
 * one-line message that names the offending field and, where there is one, the fix.
 */
export const DECODE_REASONS = [
  /** The value is not UTF-8 JSON. */
  'MALFORMED_JSON',
  /** JSON, but not a Debezium change event (no op/source, wrong shape of schema/payload). */
  'NOT_AN_ENVELOPE',
  /** `op` is not one of c, u, d, r, t. */
  'UNKNOWN_OP',
  /** `source.connector` is not postgresql, mysql or mariadb. */
  'UNKNOWN_CONNECTOR',
  /** A required field is absent or null. */
  'MISSING_FIELD',
  /** A field has the wrong JSON or Kafka Connect type. */
  'WRONG_TYPE',
  /** A number does not fit the column or the event field (int32, int64, date range). */
  'OUT_OF_RANGE',
  /** A string is longer than the release's column allows. */
  'OVERSIZED_VALUE',
  /** A delete's before image lacks the binding's columns (REPLICA IDENTITY / binlog_row_image). */
  'BEFORE_IMAGE_INCOMPLETE',
  /** A column holds Debezium's placeholder for an unchanged TOASTed value. */
  'UNAVAILABLE_VALUE',
  /** The row's columns belong to another release's table than the one configured. */
  'TABLE_MISMATCH',
  /** A bug: the decoder or encoder failed in a way no input should cause. */
  'INTERNAL',
] as const;

export type DecodeReason = (typeof DECODE_REASONS)[number];

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    readonly reason: DecodeReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isDecodeError(e: unknown): e is DecodeError {
  return e instanceof DecodeError;
}
