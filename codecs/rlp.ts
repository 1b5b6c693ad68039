// Strict RLP (Yellow Paper appendix B; go-ethereum rlp): encoding through the `rlp` package, and our own
// canonical zero-copy decoder — one whole item (rlpDecode), or the first item plus the bytes after it for
// formats that allow trailing data (rlpDecodePrefix: discv4, EIP-8) — with typed accessors that throw
// DecodeError.
//
// API
//   rlpEncode(input)          numbers/bigints → minimal big-endian ints, strings → UTF-8, null → empty string
//   rlpDecode(bytes)          exactly one canonical item spanning the whole input, else DecodeError
//   rlpDecodePrefix(bytes)    { item, rest } — first canonical item and the (view of the) bytes after it
//   rlpDecodeRawList(bytes)   the whole input must be one canonical list: each element's own encoding (views)
//   rlpEncodeRawList(items)   a list around already-encoded elements (e.g. ENR values, raw extra elements)
//   asBytes / asFixedBytes / asList / asUint / asBigUint / uintToBytes — typed accessors
//
// Decoded byte strings are *views* (subarray) into the input, never copies: `.slice()` a value you keep
// when the input buffer is large or will be reused. The decoder is iterative (no recursion), so deeply
// nested hostile input cannot overflow the stack; it rejects what geth's rlp package rejects:
//   RLP_INVALID        empty input, value or list larger than the input/enclosing list (truncated)
//   RLP_NON_CANONICAL  single byte < 0x80 wrapped as a string (geth ErrCanonSize), long form used for a
//                      size < 56, or a size with leading zero bytes (geth ErrCanonSize)
//   RLP_TRAILING_BYTES bytes after the item in rlpDecode (geth ErrMoreThanOneValue)
import RLP from 'rlp'
import { DecodeError } from './errors.ts'

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
  const { item, end } = decodeItem(bytes, 0)
  if (end !== bytes.length)
    throw new DecodeError('RLP_TRAILING_BYTES', `${bytes.length - end} bytes after the value`, {
      offset: end,
    })
  return item
}

/** Decode the first item and return the bytes after it (formats where trailing data is allowed). */
export function rlpDecodePrefix(bytes: Uint8Array): { item: RlpItem; rest: Uint8Array } {
  const { item, end } = decodeItem(bytes, 0)
  return { item, rest: bytes.subarray(end) }
}

/**
 * Decode the whole input as one canonical list and return each element's raw encoding (views into the
 * input; every element is fully validated). The raw counterpart of `asList(rlpDecode(bytes))`.
 */
export function rlpDecodeRawList(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length === 0) throw new DecodeError('RLP_INVALID', 'empty input (EOF)')
  const b0 = bytes[0]!
  if (b0 < 0xc0) throw new DecodeError('RLP_UNEXPECTED_TYPE', 'expected list')
  let from: number
  let size: number
  if (b0 < 0xf8) {
    size = b0 - 0xc0
    from = 1
    checkFits(from, size, bytes.length, 0)
  } else {
    ;({ size, from } = readLongSize(bytes, 0, b0 - 0xf7, bytes.length))
  }
  const end = from + size
  if (end !== bytes.length)
    throw new DecodeError('RLP_TRAILING_BYTES', `${bytes.length - end} bytes after the value`, {
      offset: end,
    })
  const out: Uint8Array[] = []
  let pos = from
  while (pos < end) {
    const next = decodeItem(bytes, pos, end).end
    out.push(bytes.subarray(pos, next))
    pos = next
  }
  return out
}

/** The RLP list header for a payload of `size` bytes. */
export function rlpListHeader(size: number): Uint8Array {
  if (size < 56) return Uint8Array.of(0xc0 + size)
  const len = uintToBytes(size)
  const out = new Uint8Array(1 + len.length)
  out[0] = 0xf7 + len.length
  out.set(len, 1)
  return out
}

/** Wrap already-encoded elements in a list (no validation of the elements). */
export function rlpEncodeRawList(items: readonly Uint8Array[]): Uint8Array {
  let size = 0
  for (const it of items) size += it.length
  const head = rlpListHeader(size)
  const out = new Uint8Array(head.length + size)
  out.set(head, 0)
  let o = head.length
  for (const it of items) {
    out.set(it, o)
    o += it.length
  }
  return out
}

interface Frame {
  list: RlpItem[]
  end: number
}

/** Iterative canonical decoder: the item starting at `start` (ending by `bound`) and the offset after it. */
function decodeItem(b: Uint8Array, start: number, bound = b.length): { item: RlpItem; end: number } {
  if (start >= bound) throw new DecodeError('RLP_INVALID', 'empty input (EOF)')
  const stack: Frame[] = []
  let pos = start
  for (;;) {
    let value: RlpItem
    const top = stack.length > 0 ? stack[stack.length - 1]! : undefined
    if (top !== undefined && pos === top.end) {
      stack.pop()
      value = top.list
    } else {
      const limit = top !== undefined ? top.end : bound
      const b0 = b[pos]!
      if (b0 < 0x80) {
        value = b.subarray(pos, pos + 1)
        pos += 1
      } else if (b0 < 0xb8) {
        const size = b0 - 0x80
        const from = pos + 1
        checkFits(from, size, limit, pos)
        if (size === 1 && b[from]! < 0x80)
          throw new DecodeError('RLP_NON_CANONICAL', 'single byte below 0x80 encoded as a string', {
            offset: pos,
          })
        value = b.subarray(from, from + size)
        pos = from + size
      } else if (b0 < 0xc0) {
        const { size, from } = readLongSize(b, pos, b0 - 0xb7, limit)
        value = b.subarray(from, from + size)
        pos = from + size
      } else {
        let size: number
        let from: number
        if (b0 < 0xf8) {
          size = b0 - 0xc0
          from = pos + 1
          checkFits(from, size, limit, pos)
        } else {
          const r = readLongSize(b, pos, b0 - 0xf7, limit)
          size = r.size
          from = r.from
        }
        pos = from
        if (size > 0) {
          stack.push({ list: [], end: from + size })
          continue
        }
        value = []
      }
    }
    if (stack.length === 0) return { item: value, end: pos }
    stack[stack.length - 1]!.list.push(value)
  }
}

function checkFits(from: number, size: number, limit: number, at: number): void {
  if (from + size > limit)
    throw new DecodeError('RLP_INVALID', 'value size exceeds available input length', {
      offset: at,
      size,
      available: Math.max(0, limit - from),
    })
}

/** Long-form size: `lenOfLen` big-endian bytes after the prefix, canonical (no leading zero, ≥ 56). */
function readLongSize(
  b: Uint8Array,
  pos: number,
  lenOfLen: number,
  limit: number,
): { size: number; from: number } {
  const from = pos + 1 + lenOfLen
  if (from > limit) throw new DecodeError('RLP_INVALID', 'truncated size prefix', { offset: pos })
  if (b[pos + 1] === 0)
    throw new DecodeError('RLP_NON_CANONICAL', 'size with leading zero bytes', { offset: pos })
  let size = 0
  for (let i = pos + 1; i < from; i++) size = size * 256 + b[i]!
  if (size < 56)
    throw new DecodeError('RLP_NON_CANONICAL', 'long size form used for a size below 56', { offset: pos })
  checkFits(from, size, limit, pos)
  return { size, from }
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
    if (n === 0) return new Uint8Array(0)
    if (n < 0x100) return Uint8Array.of(n)
    n = BigInt(n)
  }
  if (n < 0n) throw new RangeError('negative integer')
  if (n === 0n) return new Uint8Array(0)
  let hex = n.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  return new Uint8Array(Buffer.from(hex, 'hex'))
}
