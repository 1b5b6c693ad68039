// Snappy block format (google/snappy format_description.txt) for RLPx message compression (devp2p rlpx.md
// "Message Compression"; geth p2p/rlpx Conn.Read/Write with github.com/golang/snappy Encode/Decode).
// Both directions are our own code. Compression: a single-pass greedy matcher (below), about twice as fast as
// snappyjs here (its output is any valid block; receivers, geth included, only decode it). Decompression: a
// strict decoder, because snappyjs accepts corrupt input (negative literal lengths can move its cursor
// backwards, out-of-range copies write nothing, a short output is not detected). The decoder rejects what golang/snappy Decode rejects (ErrCorrupt):
// truncated tags, offset 0 or before the start, output longer or shorter than the declared length.
//
// API
//   snappyCompress(data) → bytes
//   snappyDecodedLength(data) → number     the varint-declared uncompressed length (SNAPPY_INVALID if bad)
//   snappyUncompress(data, maxLength?)     checks the declared length against maxLength (default 2^24−1)
//                                          BEFORE allocating (MESSAGE_TOO_BIG), then decodes strictly
//                                          (SNAPPY_INVALID)
import { DecodeError } from './errors.ts'

/** geth p2p/rlpx maxUint24: the largest frame and the largest uncompressed message. */
export const MAX_UNCOMPRESSED_SIZE = 0xffffff

// ── compressor ──────────────────────────────────────────────────────────────────────────────────────────
// A greedy single-pass matcher over 64 KiB fragments (the reference encoders' scheme): hash 4 bytes into a table
// of earlier positions, probe less often the longer nothing matched (so incompressible input is skipped fast),
// extend a 4-byte hit as far as it goes and emit literal / copy tags. Offsets stay below 64 KiB, so copies are
// copy-1 (length 4–11, offset < 2048) or copy-2 tags; the output is any valid block, not a byte-exact match
// of another encoder's.

/** bytes per independently matched fragment (copy offsets stay < 2^16) */
const FRAGMENT = 1 << 16
/** fragments shorter than this are emitted as one literal (room for the 8-byte look-ahead) */
const INPUT_MARGIN = 15
const MIN_MATCHED_FRAGMENT = 1 + 1 + INPUT_MARGIN
const MAX_TABLE_BITS = 14
/** hash table of positions, reused; only the first 2^bits entries a fragment needs are cleared */
const table = new Int32Array(1 << MAX_TABLE_BITS)

const hash32 = (u: number, shift: number) => Math.imul(u, 0x1e35a7bd) >>> shift

/** the worst case of the block format: varint + input + one tag byte per 6 literal bytes, rounded up */
const maxCompressedLength = (n: number) => 32 + n + Math.floor(n / 6)

function emitLiteral(out: Uint8Array, o: number, src: Uint8Array, from: number, to: number): number {
  const n = to - from - 1
  if (n < 60) out[o++] = n << 2
  else if (n < 0x100) {
    out[o++] = 60 << 2
    out[o++] = n
  } else {
    // a fragment is at most 64 KiB, so two length bytes always suffice
    out[o++] = 61 << 2
    out[o++] = n & 0xff
    out[o++] = n >>> 8
  }
  if (to - from < 16) for (let i = from; i < to; i++) out[o++] = src[i]!
  else {
    out.set(src.subarray(from, to), o)
    o += to - from
  }
  return o
}

function emitCopy(out: Uint8Array, o: number, offset: number, length: number): number {
  // copy-2 tags of 64 while more than 67 remain, so the rest is ≥ 4 bytes
  while (length >= 68) {
    out[o++] = (63 << 2) | 2
    out[o++] = offset & 0xff
    out[o++] = offset >>> 8
    length -= 64
  }
  if (length > 64) {
    out[o++] = (59 << 2) | 2
    out[o++] = offset & 0xff
    out[o++] = offset >>> 8
    length -= 60
  }
  if (length >= 12 || offset >= 2048) {
    out[o++] = ((length - 1) << 2) | 2
    out[o++] = offset & 0xff
    out[o++] = offset >>> 8
  } else {
    out[o++] = ((offset >>> 8) << 5) | ((length - 4) << 2) | 1
    out[o++] = offset & 0xff
  }
  return o
}

/** Compress src[start, end) (at most one fragment) into out at o; returns the new output position. */
function compressFragment(
  src: Uint8Array,
  dv: DataView,
  start: number,
  end: number,
  out: Uint8Array,
  o: number,
): number {
  const n = end - start
  if (n < MIN_MATCHED_FRAGMENT) return n > 0 ? emitLiteral(out, o, src, start, end) : o
  let bits = 8
  while (bits < MAX_TABLE_BITS && 1 << bits < n) bits++
  const shift = 32 - bits
  table.fill(start, 0, 1 << bits)
  const sLimit = end - INPUT_MARGIN
  let nextEmit = start
  let s = start + 1
  let nextHash = hash32(dv.getInt32(s, true), shift)
  for (;;) {
    // look for a 4-byte match, probing every 1, then 2, 3 … bytes as misses accumulate
    let skip = 32
    let nextS = s
    let candidate = 0
    for (;;) {
      s = nextS
      const step = skip >>> 5
      nextS = s + step
      skip += step
      if (nextS > sLimit) return nextEmit < end ? emitLiteral(out, o, src, nextEmit, end) : o
      candidate = table[nextHash]!
      table[nextHash] = s
      nextHash = hash32(dv.getInt32(nextS, true), shift)
      if (dv.getInt32(s, true) === dv.getInt32(candidate, true)) break
    }
    o = emitLiteral(out, o, src, nextEmit, s)
    // emit copies while the position right after one match starts another
    for (;;) {
      const base = s
      s += 4
      let i = candidate + 4
      while (s + 4 <= end && dv.getInt32(i, true) === dv.getInt32(s, true)) {
        i += 4
        s += 4
      }
      while (s < end && src[i] === src[s]) {
        i++
        s++
      }
      o = emitCopy(out, o, base - candidate, s - base)
      nextEmit = s
      if (s >= sLimit) return nextEmit < end ? emitLiteral(out, o, src, nextEmit, end) : o
      table[hash32(dv.getInt32(s - 1, true), shift)] = s - 1
      const cur = dv.getInt32(s, true)
      const h = hash32(cur, shift)
      candidate = table[h]!
      table[h] = s
      if (cur !== dv.getInt32(candidate, true)) {
        s++
        nextHash = hash32(dv.getInt32(s, true), shift)
        break
      }
    }
  }
}

export function snappyCompress(data: Uint8Array): Uint8Array {
  const n = data.length
  const out = new Uint8Array(maxCompressedLength(n))
  let o = 0
  for (let v = n; ; v = Math.floor(v / 128)) {
    if (v < 0x80) {
      out[o++] = v
      break
    }
    out[o++] = (v & 0x7f) | 0x80
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength)
  for (let p = 0; p < n; p += FRAGMENT) o = compressFragment(data, dv, p, Math.min(n, p + FRAGMENT), out, o)
  return out.subarray(0, o)
}

/** The uncompressed length a snappy block declares, and where the tagged data starts. */
function readHeader(data: Uint8Array): { length: number; start: number } {
  let length = 0
  let mult = 1
  for (let i = 0; i < 5 && i < data.length; i++) {
    const c = data[i]!
    length += (c & 0x7f) * mult
    if (c < 0x80) {
      // golang/snappy decodedLen: a varint above 0xffffffff is ErrCorrupt
      if (length > 0xffffffff) break
      return { length, start: i + 1 }
    }
    mult *= 128
  }
  throw new DecodeError('SNAPPY_INVALID', 'bad uncompressed-length varint')
}

export function snappyDecodedLength(data: Uint8Array): number {
  return readHeader(data).length
}

const corrupt = (what: string, at: number) => new DecodeError('SNAPPY_INVALID', `${what} at ${at}`, { at })

export function snappyUncompress(data: Uint8Array, maxLength = MAX_UNCOMPRESSED_SIZE): Uint8Array {
  const { length, start } = readHeader(data)
  if (length > maxLength)
    throw new DecodeError('MESSAGE_TOO_BIG', `declared uncompressed size ${length} > ${maxLength}`, {
      size: length,
      max: maxLength,
    })
  const out = new Uint8Array(length)
  const n = data.length
  let p = start
  let o = 0
  while (p < n) {
    const tag = data[p]!
    const kind = tag & 3
    if (kind === 0) {
      // literal
      let len = tag >>> 2
      if (len >= 60) {
        const extra = len - 59
        if (p + 1 + extra > n) throw corrupt('truncated literal length', p)
        len = 0
        for (let k = extra; k >= 1; k--) len = len * 256 + data[p + k]!
        p += extra
      }
      len += 1
      p += 1
      if (len > n - p) throw corrupt('literal runs past the input', p)
      if (len > length - o) throw corrupt('literal runs past the output', p)
      out.set(data.subarray(p, p + len), o)
      p += len
      o += len
      continue
    }
    let len: number
    let offset: number
    if (kind === 1) {
      if (p + 2 > n) throw corrupt('truncated copy-1', p)
      len = 4 + ((tag >>> 2) & 7)
      offset = ((tag >>> 5) << 8) | data[p + 1]!
      p += 2
    } else if (kind === 2) {
      if (p + 3 > n) throw corrupt('truncated copy-2', p)
      len = 1 + (tag >>> 2)
      offset = data[p + 1]! | (data[p + 2]! << 8)
      p += 3
    } else {
      if (p + 5 > n) throw corrupt('truncated copy-4', p)
      len = 1 + (tag >>> 2)
      offset = data[p + 1]! + data[p + 2]! * 0x100 + data[p + 3]! * 0x10000 + data[p + 4]! * 0x1000000
      p += 5
    }
    if (offset === 0 || offset > o) throw corrupt('copy offset out of range', p)
    if (len > length - o) throw corrupt('copy runs past the output', p)
    if (offset >= len) {
      out.copyWithin(o, o - offset, o - offset + len)
      o += len
    } else {
      // overlapping copy: repeats the last `offset` bytes
      for (const end = o + len; o < end; o++) out[o] = out[o - offset]!
    }
  }
  if (o !== length) throw corrupt(`decoded ${o} of ${length} declared bytes`, p)
  return out
}
