// The one typed error family of the pure codecs (DESIGN.md §7): decoders throw DecodeError with a
// string code and structured fields, never raw TypeErrors or RLP-library messages.
export type DecodeErrorCode =
  | 'RLP_INVALID'
  | 'RLP_NON_CANONICAL'
  | 'RLP_TRAILING_BYTES'
  | 'RLP_UNEXPECTED_TYPE'
  | 'RLP_TOO_FEW_ELEMENTS'
  | 'INT_TOO_LARGE'
  | 'INT_LEADING_ZERO'
  | 'BAD_LENGTH'
  | 'PACKET_TOO_SMALL'
  | 'PACKET_TOO_BIG'
  | 'BAD_HASH'
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_PACKET_TYPE'
  | 'BAD_ENODE'
  | 'BAD_ENR'
  | 'ENR_TOO_BIG'
  | 'ENR_UNSORTED_KEYS'
  | 'ENR_BAD_SIGNATURE'
  | 'ENR_UNKNOWN_SCHEME'
  | 'BAD_IP'
  | 'AUTH_TOO_BIG'
  | 'AUTH_TOO_SMALL'
  | 'ECIES_FAILED'
  | 'BAD_HEADER_MAC'
  | 'BAD_FRAME_MAC'
  | 'FRAME_TOO_BIG'
  | 'MESSAGE_TOO_BIG'
  | 'SNAPPY_INVALID'
  | 'BAD_DISC_REASON'
  | 'BAD_MESSAGE'
  | 'BAD_PUBLIC_KEY'
  | 'INVALID_IDENTITY'
  | 'DNS_UNKNOWN_ENTRY'
  | 'DNS_BAD_ENTRY'
  | 'DNS_HASH_MISMATCH'
  | 'DNS_NO_ROOT'
  | 'DNS_NO_ENTRY'
  | 'DNS_BAD_URL'

export class DecodeError extends Error {
  readonly code: DecodeErrorCode
  readonly details: Record<string, unknown>
  constructor(code: DecodeErrorCode, message?: string, details: Record<string, unknown> = {}) {
    super(message ? `${code}: ${message}` : code)
    this.name = 'DecodeError'
    this.code = code
    this.details = details
  }
}

/** Run a decoding step and turn any foreign error into a DecodeError with the given code. */
export function decodeGuard<T>(code: DecodeErrorCode, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof DecodeError) throw e
    throw new DecodeError(code, (e as Error)?.message ?? String(e))
  }
}
