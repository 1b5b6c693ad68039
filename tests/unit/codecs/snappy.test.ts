// Snappy block codec: round trips through snappyjs compression and our strict decoder, hand-made streams
// for each tag kind, the declared-length check before allocation, and properties: random or mutated input
// decodes or throws DecodeError, never anything else.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { uncompress } from 'snappyjs'
import { DecodeError } from '../../../codecs/errors.ts'
import {
  MAX_UNCOMPRESSED_SIZE,
  snappyCompress,
  snappyDecodedLength,
  snappyUncompress,
} from '../../../codecs/snappy.ts'

const compressible = (n: number) => {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i % 251) ^ ((i >> 12) & 7)
  return b
}

describe('snappy', () => {
  test('round trips: empty, small, random, repetitive, 1 MiB', () => {
    for (const d of [new Uint8Array(0), Uint8Array.of(1), compressible(100), compressible(1 << 20)]) {
      const c = snappyCompress(d)
      assert.equal(snappyDecodedLength(c), d.length)
      assert.deepEqual(snappyUncompress(c), d)
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(40), (d, rep) => {
        const x = new Uint8Array(d.length * (1 + (rep % 4)))
        for (let i = 0; i < x.length; i += Math.max(1, d.length)) x.set(d.subarray(0, x.length - i), i)
        assert.deepEqual(snappyUncompress(snappyCompress(x)), x)
      }),
      { numRuns: 300 },
    )
  })
  test('accepts Buffers and returns a plain Uint8Array', () => {
    const c = snappyCompress(Buffer.from('hello hello hello hello'))
    assert.equal(Object.getPrototypeOf(c), Uint8Array.prototype)
    assert.equal(new TextDecoder().decode(snappyUncompress(c)), 'hello hello hello hello')
  })
  test('hand-made streams: long literal, copy-1 overlapping, copy-2, copy-4', () => {
    // varint 70, literal of 61 bytes (tag 60<<2 with one length byte 60), copy-1 len 4 offset 1, copy-2
    // len 5 offset 7 (tag (4<<2)|2)
    const lit = new Uint8Array(61).map((_, i) => i)
    const s = Uint8Array.of(70, 60 << 2, 60, ...lit, 0b000_000_01, 1, (4 << 2) | 2, 7, 0)
    const want = [...lit, 60, 60, 60, 60, 58, 59, 60, 60, 60]
    assert.deepEqual([...snappyUncompress(s)], want)
    const s4 = Uint8Array.of(8, 3 << 2, 1, 2, 3, 4, (3 << 2) | 3, 4, 0, 0, 0)
    assert.deepEqual([...snappyUncompress(s4)], [1, 2, 3, 4, 1, 2, 3, 4])
  })
  test('corrupt streams are SNAPPY_INVALID', () => {
    const bad = [
      [], // no varint
      [0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // varint longer than 5 bytes
      [0xff, 0xff, 0xff, 0xff, 0x7f], // > 2^32 - 1
      [3, 0 << 2, 1], // short output
      [1, 1 << 2, 1, 2], // literal past the output
      [5, 4 << 2, 1, 2], // literal past the input
      [4, 0b01, 1], // copy before any output (offset > produced)
      [4, 0 << 2, 9, 0b01, 0], // offset 0
      [8, 0 << 2, 9, 0b000_111_01, 1], // copy past the output
      [4, 62 << 2, 1], // truncated literal length
      [4, 0 << 2, 9, (3 << 2) | 2, 1], // truncated copy-2
      [4, 0 << 2, 9, (3 << 2) | 3, 1, 0, 0], // truncated copy-4
      [4, 0 << 2, 9, 0b01], // truncated copy-1
      [0xfc, 0xff, 0xff, 0xff, 0x0f, (63 << 2) | 0, 0xfe, 0xff, 0xff, 0xff], // 4-byte literal length ~2^32
    ]
    for (const b of bad) {
      assert.throws(
        () => snappyUncompress(Uint8Array.from(b), 0xffffffff),
        (e: unknown) => e instanceof DecodeError && e.code === 'SNAPPY_INVALID',
        `${b}`,
      )
    }
  })
  test('a declared length above the limit is MESSAGE_TOO_BIG before anything is allocated', () => {
    const before = process.memoryUsage().arrayBuffers
    for (const len of [MAX_UNCOMPRESSED_SIZE + 1, 0xffffffff]) {
      const v: number[] = []
      for (let x = len; ; x = Math.floor(x / 128)) {
        if (x < 128) {
          v.push(x)
          break
        }
        v.push((x % 128) | 0x80)
      }
      assert.throws(() => snappyUncompress(Uint8Array.from([...v, 0])), { code: 'MESSAGE_TOO_BIG' })
    }
    assert.ok(process.memoryUsage().arrayBuffers - before < 8 << 20)
    assert.throws(() => snappyUncompress(snappyCompress(new Uint8Array(11)), 10), { code: 'MESSAGE_TOO_BIG' })
  })
  test('random bytes: DecodeError or agreement with snappyjs on valid streams (3000 runs)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        let ours: Uint8Array
        try {
          ours = snappyUncompress(b, 1 << 16)
        } catch (e) {
          assert.ok(e instanceof DecodeError, String(e))
          return
        }
        assert.deepEqual(ours, uncompress(b))
      }),
      { numRuns: 3000 },
    )
  })
  test('mutated valid streams (2000 runs)', () => {
    const base = snappyCompress(compressible(3000))
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.nat(base.length),
        (flips, cut) => {
          const b = base.slice(0, cut)
          for (const [p, x] of flips) if (b.length) b[p % b.length]! ^= x
          try {
            snappyUncompress(b)
          } catch (e) {
            assert.ok(e instanceof DecodeError, String(e))
          }
        },
      ),
      { numRuns: 2000 },
    )
  })
})
