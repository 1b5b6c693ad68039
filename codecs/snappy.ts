// Snappy block format (google/snappy format_description.txt) for RLPx message compression (devp2p rlpx.md
// "Message Compression"; geth p2p/rlpx Conn.Read/Write with github.com/golang/snappy Encode/Decode).
// Compression goes through `snappyjs`; decompression is our own strict decoder, because snappyjs accepts
// corrupt input (negative literal lengths can move its cursor backwards, out-of-range copies write nothing,
// a short output is not detected). The decoder rejects what golang/snappy Decode rejects (ErrCorrupt):
// truncated tags, offset 0 or before the start, output longer or shorter than the declared length.
//
// API
//   snappyCompress(data) → bytes
//   snappyDecodedLength(data) → number     the varint-declared uncompressed length (SNAPPY_INVALID if bad)
//   snappyUncompress(data, maxLength?)     checks the declared length against maxLength (default 2^24−1)
//                                          BEFORE allocating (MESSAGE_TOO_BIG), then decodes strictly
//                                          (SNAPPY_INVALID)
import { compress } from 'snappyjs'
import { DecodeError } from './errors.ts'

/** geth p2p/rlpx maxUint24: the largest frame and the largest uncompressed message. */
export const MAX_UNCOMPRESSED_SIZE = 0xffffff

export function snappyCompress(data: Uint8Array): Uint8Array {
  // snappyjs treats a Buffer as a Buffer: give it a plain Uint8Array view so it returns one too
  const plain = Buffer.isBuffer(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data
  return compress(plain)
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
