// The AES seam: streaming CTR equals node:crypto's one-shot CTR for any split of the input, on both
// backends; single-block ECB equals AES-256-ECB.
import assert from 'node:assert/strict'
import { createCipheriv } from 'node:crypto'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { aesCtr, createAesBlock, createAesCtr } from '../../../crypto/aes.ts'
import { onBoth } from '../../helpers/backends.ts'

const ref = (key: Uint8Array, iv: Uint8Array, data: Uint8Array) =>
  new Uint8Array(createCipheriv(key.length === 16 ? 'aes-128-ctr' : 'aes-256-ctr', key, iv).update(data))

describe('AES-CTR stream', () => {
  onBoth('any split of the input continues the keystream (fast-check, 300 runs)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(16, 32),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat(40), { maxLength: 12 }),
        fc.boolean(),
        (keyLen, iv, data, cuts, inPlace) => {
          const key = new Uint8Array(keyLen).fill(7)
          const s = createAesCtr(key, iv)
          const out = new Uint8Array(data.length)
          let i = 0
          for (const c of [...cuts, data.length]) {
            const n = Math.min(c, data.length - i)
            if (inPlace) {
              const part = out.subarray(i, i + n)
              part.set(data.subarray(i, i + n))
              s.update(part, part)
            } else out.set(s.update(data.subarray(i, i + n)), i)
            i += n
          }
          assert.deepEqual(out, ref(key, iv, data))
        },
      ),
      { numRuns: 300 },
    )
  })
  onBoth('unaligned views and a 1 MiB input', () => {
    const key = new Uint8Array(32).map((_, i) => i)
    const iv = new Uint8Array(16)
    const backing = new Uint8Array((1 << 20) + 3).map((_, i) => i * 31)
    const data = backing.subarray(3)
    assert.deepEqual(aesCtr(key, iv, data), ref(key, iv, data))
    const s = createAesCtr(key, iv)
    const out = new Uint8Array(data.length + 1).subarray(1)
    s.update(data.subarray(0, 5), out.subarray(0, 5))
    s.update(data.subarray(5), out.subarray(5))
    assert.deepEqual(out, ref(key, iv, data))
  })
  test('returns plain Uint8Arrays (not Buffers) on the fast path', () => {
    const out = aesCtr(new Uint8Array(16), new Uint8Array(16), new Uint8Array(5))
    assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype)
  })
  test('rejects bad key and IV sizes', () => {
    assert.throws(() => createAesCtr(new Uint8Array(20)), RangeError)
    assert.throws(() => createAesCtr(new Uint8Array(32), new Uint8Array(8)), RangeError)
  })
})

describe('AES-ECB single block', () => {
  test('equals node AES-256-ECB for 200 random blocks, in place and into a buffer', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (key, block) => {
          const want = new Uint8Array(createCipheriv('aes-256-ecb', key, null).update(block))
          const b = createAesBlock(key)
          assert.deepEqual(b.encrypt(block), want)
          const copy = block.slice()
          b.encrypt(copy, copy)
          assert.deepEqual(copy, want)
        },
      ),
      { numRuns: 200 },
    )
  })
})
