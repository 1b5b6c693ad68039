// Strict RLP decoder: properties (round trips, hostile bytes), error codes, zero-copy views, deep nesting.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { bytesToHex, hexToBytes } from '../../../codecs/bytes.ts'
import { DecodeError } from '../../../codecs/errors.ts'
import {
  asBigUint,
  asFixedBytes,
  asList,
  asUint,
  type RlpItem,
  rlpDecode,
  rlpDecodePrefix,
  rlpEncode,
  uintToBytes,
} from '../../../codecs/rlp.ts'

const norm = (item: RlpItem): unknown =>
  Array.isArray(item) ? item.map(norm) : bytesToHex(item as Uint8Array)

const { item: arbItem } = fc.letrec<{ item: RlpItem }>((tie) => ({
  item: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.uint8Array({ maxLength: 70 }),
    fc.array(tie('item'), { maxLength: 6 }),
  ),
}))

const code = (c: string) => (e: unknown) => e instanceof DecodeError && e.code === c

function decodesOrDecodeError(b: Uint8Array): void {
  try {
    const item = rlpDecode(b)
    // canonical: whatever decodes re-encodes to the same bytes
    assert.equal(bytesToHex(rlpEncode(item)), bytesToHex(b))
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e
  }
}

describe('rlp properties', () => {
  it('decode ∘ encode = identity', () => {
    fc.assert(
      fc.property(arbItem, (item) => {
        assert.deepEqual(norm(rlpDecode(rlpEncode(item))), norm(item))
      }),
      { numRuns: 2000 },
    )
  })

  it('random bytes decode canonically or throw DecodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), decodesOrDecodeError), { numRuns: 3000 })
  })

  it('mutated encodings (bit flips, truncations, extensions) decode or throw DecodeError', () => {
    fc.assert(
      fc.property(arbItem, fc.nat(), fc.integer({ min: 0, max: 7 }), fc.nat(), (item, at, bit, cut) => {
        const enc = rlpEncode(item)
        const flipped = enc.slice()
        flipped[at % flipped.length]! ^= 1 << bit
        decodesOrDecodeError(flipped)
        decodesOrDecodeError(enc.subarray(0, cut % (enc.length + 1)))
        decodesOrDecodeError(Uint8Array.from([...enc, cut & 0xff]))
      }),
      { numRuns: 2000 },
    )
  })

  it('rlpDecodePrefix returns the first item and the rest', () => {
    fc.assert(
      fc.property(arbItem, fc.uint8Array({ maxLength: 20 }), (item, tail) => {
        const enc = rlpEncode(item)
        const { item: got, rest } = rlpDecodePrefix(Uint8Array.from([...enc, ...tail]))
        assert.deepEqual(norm(got), norm(item))
        assert.equal(bytesToHex(rest), bytesToHex(tail))
      }),
      { numRuns: 1000 },
    )
  })
})

describe('rlp strictness', () => {
  const cases: [string, string][] = [
    ['', 'RLP_INVALID'],
    ['8100', 'RLP_NON_CANONICAL'],
    ['817f', 'RLP_NON_CANONICAL'],
    ['b800', 'RLP_NON_CANONICAL'],
    ['b90001', 'RLP_NON_CANONICAL'],
    ['b801ff', 'RLP_NON_CANONICAL'],
    ['f803112233', 'RLP_NON_CANONICAL'],
    ['c5010203', 'RLP_INVALID'],
    ['83aabb', 'RLP_INVALID'],
    ['b9', 'RLP_INVALID'],
    ['c2c30102', 'RLP_INVALID'], // inner list larger than the outer list
    ['c2820102', 'RLP_INVALID'], // string overruns the enclosing list
    ['0102', 'RLP_TRAILING_BYTES'],
    ['c0c0', 'RLP_TRAILING_BYTES'],
  ]
  for (const [hex, c] of cases) {
    it(`rejects ${hex || '(empty)'} with ${c}`, () =>
      assert.throws(() => rlpDecode(hexToBytes(hex)), code(c)))
  }

  it('decodes 8180 (0x80 as a one-byte string) and 00', () => {
    assert.equal(bytesToHex(rlpDecode(hexToBytes('8180')) as Uint8Array), '80')
    assert.equal(bytesToHex(rlpDecode(hexToBytes('00')) as Uint8Array), '00')
  })

  it('returns views into the input (no copies)', () => {
    const enc = rlpEncode([new Uint8Array(40).fill(9), 'dog'])
    const [a, b] = rlpDecode(enc) as Uint8Array[]
    assert.equal(a!.buffer, enc.buffer)
    assert.equal(b!.buffer, enc.buffer)
  })

  it('handles 200 000 nested lists without recursion', () => {
    // build c1 c1 … c0 from the inside out with long-form prefixes where needed
    let enc = Uint8Array.of(0xc0)
    const parts: Uint8Array[] = []
    let total = 1
    for (let i = 0; i < 200_000; i++) {
      const size = total
      let prefix: Uint8Array
      if (size < 56) prefix = Uint8Array.of(0xc0 + size)
      else {
        const len = uintToBytes(size)
        prefix = Uint8Array.of(0xf7 + len.length, ...len)
      }
      parts.push(prefix)
      total += prefix.length
    }
    const out = new Uint8Array(total)
    let o = 0
    for (let i = parts.length - 1; i >= 0; i--) {
      out.set(parts[i]!, o)
      o += parts[i]!.length
    }
    out[o] = 0xc0
    enc = out
    let item = rlpDecode(enc)
    let depth = 0
    while (Array.isArray(item) && item.length === 1) {
      item = item[0]!
      depth++
    }
    assert.equal(depth, 200_000)
    assert.deepEqual(item, [])
    assert.throws(() => rlpDecode(enc.subarray(0, enc.length - 1)), code('RLP_INVALID'))
  })
})

describe('rlp accessors', () => {
  it('asUint / asBigUint reject leading zeros and oversize integers', () => {
    assert.equal(asUint(hexToBytes('0400')), 1024)
    assert.equal(asUint(new Uint8Array(0)), 0)
    assert.throws(() => asUint(hexToBytes('0004')), code('INT_LEADING_ZERO'))
    assert.throws(() => asUint(new Uint8Array(7).fill(1)), code('INT_TOO_LARGE'))
    assert.equal(asBigUint(hexToBytes('ffffffffffffffff'), 'x', 8), 2n ** 64n - 1n)
    assert.throws(() => asBigUint(new Uint8Array(9).fill(1), 'x', 8), code('INT_TOO_LARGE'))
    assert.throws(() => asUint([]), code('RLP_UNEXPECTED_TYPE'))
  })
  it('asList / asFixedBytes check shape', () => {
    assert.throws(() => asList(new Uint8Array(1)), code('RLP_UNEXPECTED_TYPE'))
    assert.throws(() => asList([], 'x', 1), code('RLP_TOO_FEW_ELEMENTS'))
    assert.throws(() => asFixedBytes(new Uint8Array(3), 4), code('BAD_LENGTH'))
  })
  it('uintToBytes is minimal big-endian', () => {
    assert.equal(bytesToHex(uintToBytes(0)), '')
    assert.equal(bytesToHex(uintToBytes(255)), 'ff')
    assert.equal(bytesToHex(uintToBytes(256)), '0100')
    assert.equal(bytesToHex(uintToBytes(2n ** 64n - 1n)), 'ffffffffffffffff')
    assert.throws(() => uintToBytes(-1), RangeError)
  })
})
