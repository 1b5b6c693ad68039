// Our snappy compressor (codecs/snappy.ts snappyCompress): every output decodes to the input under both our
// strict decoder and snappyjs, stays within the format's worst-case size, and compresses what is compressible.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { uncompress } from 'snappyjs'
import { snappyCompress, snappyDecodedLength, snappyUncompress } from '../../../codecs/snappy.ts'

function roundTrip(d: Uint8Array): Uint8Array {
  const c = snappyCompress(d)
  assert.ok(c.length <= 32 + d.length + Math.floor(d.length / 6), `output of ${c.length} for ${d.length}`)
  assert.equal(snappyDecodedLength(c), d.length)
  assert.deepEqual(snappyUncompress(c, Math.max(d.length, 1)), d)
  assert.deepEqual(new Uint8Array(uncompress(c.slice())), d)
  return c
}

/** bytes from a small alphabet with repeats at random distances: exercises copy-1, copy-2 and long matches */
const patterned = fc
  .record({
    alphabet: fc.integer({ min: 1, max: 256 }),
    parts: fc.array(
      fc.record({ lit: fc.uint8Array({ maxLength: 40 }), back: fc.nat(5000), len: fc.nat(300) }),
      { maxLength: 60 },
    ),
  })
  .map(({ alphabet, parts }) => {
    const out: number[] = []
    for (const p of parts) {
      for (const b of p.lit) out.push(b % alphabet)
      if (out.length > 0) {
        const from = Math.max(0, out.length - 1 - (p.back % out.length))
        for (let i = 0; i < p.len; i++) out.push(out[from + i]!)
      }
    }
    return Uint8Array.from(out)
  })

describe('snappyCompress', () => {
  it('round-trips random and patterned inputs (both decoders)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (d) => void roundTrip(d)),
      { numRuns: 400 },
    )
    fc.assert(
      fc.property(patterned, (d) => void roundTrip(d)),
      { numRuns: 600 },
    )
  })

  it('round-trips sizes around the 64 KiB fragment and the 17-byte minimum', () => {
    for (const n of [0, 1, 4, 5, 15, 16, 17, 18, 100, 65535, 65536, 65537, 131072, 200_003]) {
      const rnd = crypto.getRandomValues(new Uint8Array(Math.min(n, 65536)))
      const mixed = new Uint8Array(n).map((_, i) => (i % 256 < 128 ? rnd[i % rnd.length]! : i & 7))
      roundTrip(mixed)
      roundTrip(new Uint8Array(n))
      roundTrip(new Uint8Array(n).map((_, i) => rnd[i % rnd.length]!))
    }
  })

  it('compresses repetitive data and keeps random data near its size', () => {
    assert.ok(roundTrip(new Uint8Array(1 << 20)).length < 50_000)
    const half = new Uint8Array(1 << 20)
    for (let i = 0; i < half.length; i += 128) {
      const r = crypto.getRandomValues(new Uint8Array(64))
      half.set(r, i)
      half.set(r, i + 64)
    }
    assert.ok(roundTrip(half).length < 0.6 * half.length)
    const rnd = new Uint8Array(1 << 20)
    for (let i = 0; i < rnd.length; i += 65536) crypto.getRandomValues(rnd.subarray(i, i + 65536))
    assert.ok(roundTrip(rnd).length < rnd.length + 1000)
  })
})
