// codecs/bytes.ts hex helpers: bytesToHex (Node's hex encoder applied to any Uint8Array, views included) agrees
// with Buffer's, and hexToBytes inverts it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { bytesToHex, hexToBytes } from '../../../codecs/bytes.ts'

describe('bytesToHex / hexToBytes', () => {
  it('encode like Buffer, for whole arrays and views into a larger buffer, and round-trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(16), fc.nat(16), (bytes, pre, post) => {
        const big = new Uint8Array(pre + bytes.length + post).fill(0xab)
        big.set(bytes, pre)
        const view = big.subarray(pre, pre + bytes.length)
        const want = Buffer.from(bytes).toString('hex')
        assert.equal(bytesToHex(bytes), want)
        assert.equal(bytesToHex(view), want)
        assert.deepEqual(hexToBytes(want), bytes)
      }),
      { numRuns: 500 },
    )
  })

  it('empty input, and a 0x prefix on decode', () => {
    assert.equal(bytesToHex(new Uint8Array(0)), '')
    assert.deepEqual(hexToBytes('0x00ff'), Uint8Array.of(0, 255))
    assert.throws(() => hexToBytes('abc'), TypeError)
  })
})
