// Strict RLP helpers over the `rlp` package (Ethereum Yellow Paper appendix B): canonical decoding of one
// whole item, an explicit prefix decoder for formats that allow trailing data (discv4, EIP-8), and typed
// accessors for uint / bytes / lists that throw DecodeError.
import RLP from 'rlp'
import { DecodeError, decodeGuard } from './errors.ts'

export type RlpItem = Uint8Array | RlpItem[]
export type RlpInput = Uint8Array | number | bigint | string | RlpInput[] | null | undefined

/** Encode: numbers and bigints as minimal big-endian unsigned integers, strings as UTF-8 (not hex). */
export function rlpEncode(input: RlpInput): Uint8Array {
  return RLP.encode(normalize(input) as Parameters<typeof RLP.encode>[0])
}

const utf8 = new TextEncoder()
function normalize(input: RlpInput): unknown {
  if (typeof input === 'string') return utf8.encode(input)
  if (typeof input === 'number' || typeof input === 'bigint') return uintToBytes(input)
  if (Array.isArray(input)) return input.map(normalize)
  if (input == null) return new Uint8Array(0)
  return input
}

/** Decode exactly one canonical item spanning the whole input. */
export function rlpDecode(bytes: Uint8Array): RlpItem {
  if (bytes.length === 0) throw new DecodeError('RLP_INVALID', 'empty input')
  return decodeGuard('RLP_INVALID', () => RLP.decode(bytes)) as RlpItem
}

/** Decode the first item and return the bytes after it (formats where trailing data is allowed). */
export function rlpDecodePrefix(bytes: Uint8Array): { item: RlpItem; rest: Uint8Array } {
  if (bytes.length === 0) throw new DecodeError('RLP_INVALID', 'empty input')
  const d = decodeGuard('RLP_INVALID', () => RLP.decode(bytes, true))
  return { item: d.data as RlpItem, rest: d.remainder }
}

export function asBytes(item: RlpItem | undefined, what = 'value'): Uint8Array {
  if (!(item instanceof Uint8Array)) throw new DecodeError('RLP_UNEXPECTED_TYPE', `${what}: expected bytes`)
  return item
}

export function asFixedBytes(item: RlpItem | undefined, len: number, what = 'value'): Uint8Array {
  const b = asBytes(item, what)
  if (b.length !== len) throw new DecodeError('BAD_LENGTH', `${what}: expected ${len} bytes, got ${b.length}`)
  return b
}

export function asList(item: RlpItem | undefined, what = 'value', minLength = 0): RlpItem[] {
  if (!Array.isArray(item)) throw new DecodeError('RLP_UNEXPECTED_TYPE', `${what}: expected list`)
  if (item.length < minLength)
    throw new DecodeError(
      'RLP_TOO_FEW_ELEMENTS',
      `${what}: expected ≥ ${minLength} elements, got ${item.length}`,
    )
  return item
}

/** Canonical unsigned integer (no leading zero byte) that fits in a JS number (≤ 6 bytes by default). */
export function asUint(item: RlpItem | undefined, what = 'value', maxBytes = 6): number {
  const b = asBytes(item, what)
  if (b.length > maxBytes) throw new DecodeError('INT_TOO_LARGE', `${what}: integer of ${b.length} bytes`)
  if (b.length > 0 && b[0] === 0) throw new DecodeError('INT_LEADING_ZERO', `${what}: leading zero`)
  let n = 0
  for (const x of b) n = n * 256 + x
  return n
}

/** Canonical unsigned integer of up to maxBytes (default 32) as a bigint. */
export function asBigUint(item: RlpItem | undefined, what = 'value', maxBytes = 32): bigint {
  const b = asBytes(item, what)
  if (b.length > maxBytes) throw new DecodeError('INT_TOO_LARGE', `${what}: integer of ${b.length} bytes`)
  if (b.length > 0 && b[0] === 0) throw new DecodeError('INT_LEADING_ZERO', `${what}: leading zero`)
  let n = 0n
  for (const x of b) n = (n << 8n) | BigInt(x)
  return n
}

/** Minimal big-endian bytes of an unsigned integer (0 → empty). */
export function uintToBytes(n: number | bigint): Uint8Array {
  if (typeof n === 'number') {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not an unsigned safe integer: ${n}`)
    n = BigInt(n)
  }
  if (n < 0n) throw new RangeError('negative integer')
  if (n === 0n) return new Uint8Array(0)
  let hex = n.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  return new Uint8Array(Buffer.from(hex, 'hex'))
}
