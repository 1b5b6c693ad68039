// ECIES round trips on both backends, injected randomness, and every malformed input failing with CryptoError.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { setCryptoBackend } from '../../../crypto/backend.ts'
import { ECIES_OVERHEAD, eciesDecrypt, eciesEncrypt, type RandomBytes } from '../../../crypto/ecies.ts'
import { CryptoError, generatePrivateKey, publicKeyOf } from '../../../crypto/secp256k1.ts'
import { onBoth } from '../../helpers/backends.ts'

/** Deterministic RandomBytes: a counter-based byte stream from a seed. */
function seeded(seed: number): RandomBytes {
  let x = seed
  return (n) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0
      out[i] = x >>> 24
    }
    return out
  }
}

const priv = generatePrivateKey()
const pub = publicKeyOf(priv)

describe('ECIES', () => {
  onBoth('round trip for random messages and shared MAC data (50 runs)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 600 }),
        fc.uint8Array({ maxLength: 4 }),
        (m, s2) => {
          const c = eciesEncrypt(pub, m, s2)
          assert.equal(c.length, m.length + ECIES_OVERHEAD)
          assert.equal(c[0], 4)
          assert.deepEqual(eciesDecrypt(priv, c, s2), m)
        },
      ),
      { numRuns: 50 },
    )
  })
  onBoth('injected randomness makes the ciphertext reproducible; both backends agree', () => {
    const m = new TextEncoder().encode('devp2p')
    const a = eciesEncrypt(pub, m, new Uint8Array([1, 2]), seeded(1))
    const b = eciesEncrypt(pub, m, new Uint8Array([1, 2]), seeded(1))
    assert.deepEqual(a, b)
    setCryptoBackend('noble')
    assert.deepEqual(eciesEncrypt(pub, m, new Uint8Array([1, 2]), seeded(1)), a)
    assert.notDeepEqual(eciesEncrypt(pub, m, new Uint8Array([1, 2]), seeded(2)), a)
  })
  onBoth('every single-bit flip is rejected (tag or R point)', () => {
    const c = eciesEncrypt(pub, new Uint8Array(40).fill(9), new Uint8Array([0, 1]))
    for (let i = 0; i < c.length; i++) {
      const bad = c.slice()
      bad[i]! ^= 1 << (i % 8)
      assert.throws(
        () => eciesDecrypt(priv, bad, new Uint8Array([0, 1])),
        (e: unknown) =>
          e instanceof CryptoError && ['ECIES_MAC_MISMATCH', 'INVALID_PUBLIC_KEY'].includes(e.code),
      )
    }
  })
  test('wrong key, wrong shared data, short input, compressed R, empty plaintext', () => {
    const c = eciesEncrypt(pub, new Uint8Array([1, 2, 3]))
    assert.throws(() => eciesDecrypt(generatePrivateKey(), c), { code: 'ECIES_MAC_MISMATCH' })
    assert.throws(() => eciesDecrypt(priv, c, new Uint8Array([1])), { code: 'ECIES_MAC_MISMATCH' })
    assert.throws(() => eciesDecrypt(priv, c.subarray(0, ECIES_OVERHEAD - 1)), { code: 'ECIES_TOO_SHORT' })
    assert.throws(() => eciesDecrypt(priv, new Uint8Array(0)), { code: 'ECIES_TOO_SHORT' })
    const r2 = c.slice()
    r2[0] = 2
    assert.throws(() => eciesDecrypt(priv, r2), { code: 'INVALID_PUBLIC_KEY' })
    assert.throws(() => eciesEncrypt(pub, new Uint8Array(0)), { code: 'ECIES_TOO_SHORT' })
  })
  test('random bytes never throw anything but CryptoError (2000 runs)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          eciesDecrypt(priv, b)
        } catch (e) {
          assert.ok(e instanceof CryptoError, String(e))
        }
      }),
      { numRuns: 2000 },
    )
  })
})
