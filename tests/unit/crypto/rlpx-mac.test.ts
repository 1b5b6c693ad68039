// The RLPx MAC state against an independent spelling of the spec formulas (noble keccak with clone(),
// node:crypto AES-256-ECB), on both keccak backends, over random header/frame sequences.
import assert from 'node:assert/strict'
import { createCipheriv } from 'node:crypto'
import { describe, test } from 'node:test'
import { keccak_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { type CryptoBackend, setCryptoBackend } from '../../../crypto/backend.ts'
import { RlpxMac } from '../../../crypto/rlpx-mac.ts'

/** rlpx.md: header-mac-seed = aes(mac-secret, keccak256.digest(egress-mac)[:16]) ^ header-ciphertext, etc. */
class SpecMac {
  h = keccak_256.create()
  constructor(readonly secret: Uint8Array) {}
  private aes(b: Uint8Array) {
    return new Uint8Array(createCipheriv('aes-256-ecb', this.secret, null).update(b))
  }
  private dig() {
    return this.h.clone().digest()
  }
  header(ct: Uint8Array) {
    const seed = this.aes(this.dig().subarray(0, 16)).map((x, i) => x ^ ct[i]!)
    this.h.update(seed)
    return this.dig().subarray(0, 16)
  }
  frame(ct: Uint8Array) {
    this.h.update(ct)
    const fs = this.dig().subarray(0, 16)
    const seed = this.aes(fs).map((x, i) => x ^ fs[i]!)
    this.h.update(seed)
    return this.dig().subarray(0, 16)
  }
}

describe('RlpxMac', () => {
  for (const b of ['fast', 'noble'] as CryptoBackend[]) {
    test(`matches the spec formulas over random frame sequences [${b}] (100 runs)`, () => {
      setCryptoBackend(b)
      try {
        fc.assert(
          fc.property(
            fc.uint8Array({ minLength: 32, maxLength: 32 }),
            fc.uint8Array({ maxLength: 64 }),
            fc.array(
              fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 100 })),
              { maxLength: 8 },
            ),
            (secret, init, frames) => {
              const ours = new RlpxMac(secret)
              const spec = new SpecMac(secret)
              ours.update(init)
              spec.h.update(init)
              for (const [hdr, body] of frames) {
                assert.deepEqual(ours.updateHeader(hdr), spec.header(hdr))
                assert.deepEqual(ours.updateBody(body), spec.frame(body))
              }
              assert.deepEqual(ours.digest(), spec.h.clone().digest())
            },
          ),
          { numRuns: 100 },
        )
      } finally {
        setCryptoBackend('fast')
      }
    })
  }
  test('digest does not finalise the running state', () => {
    const m = new RlpxMac(new Uint8Array(32))
    m.update(new Uint8Array([1]))
    const d1 = m.digest()
    assert.deepEqual(m.digest(), d1)
    m.update(new Uint8Array([2]))
    assert.notDeepEqual(m.digest(), d1)
  })
  test('rejects a mac-secret that is not 32 bytes and a header that is not 16 bytes', () => {
    assert.throws(() => new RlpxMac(new Uint8Array(16)), RangeError)
    assert.throws(() => new RlpxMac(new Uint8Array(32)).updateHeader(new Uint8Array(15)), RangeError)
  })
})
