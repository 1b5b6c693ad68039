import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { randomBytes } from '../../../crypto/random.ts'

describe('randomBytes (pooled CSPRNG)', () => {
  it('returns the asked length in its own buffer, for pooled and unpooled sizes', () => {
    for (const n of [0, 1, 16, 32, 199, 256, 257, 5000]) {
      const b = randomBytes(n)
      assert.equal(b.length, n)
      assert.equal(b.byteOffset, 0)
      assert.equal(b.buffer.byteLength, n, 'not a view into the pool')
    }
  })

  it('never hands out the same bytes twice across pool refills', () => {
    const seen = new Set<string>()
    // 3 000 × 32 bytes spans ~24 refills of the 4 KiB pool
    for (let i = 0; i < 3000; i++) {
      const hex = Buffer.from(randomBytes(32)).toString('hex')
      assert.ok(!seen.has(hex))
      seen.add(hex)
    }
  })

  it('looks uniform (byte frequencies within a loose bound)', () => {
    const counts = new Array<number>(256).fill(0)
    for (let i = 0; i < 2000; i++) for (const x of randomBytes(64)) counts[x]!++
    // 128 000 bytes: expected 500 per value; a wildly broken source (all zeros, a repeated slice) fails this
    for (const c of counts) assert.ok(c > 350 && c < 650, `count ${c}`)
  })
})
