// The secp256k1 and keccak seams give identical results on the fast (native/wasm) and noble paths.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { bytesToHex, hexToBytes } from '../../../codecs/bytes.ts'
import { setCryptoBackend } from '../../../crypto/backend.ts'
import { createKeccakState, keccak256 } from '../../../crypto/keccak.ts'
import {
  CryptoError,
  compressPublicKey,
  ecdh,
  generatePrivateKey,
  hasNativeSecp256k1,
  publicKeyOf,
  recoverPublicKey,
  sign,
  uncompressPublicKey,
} from '../../../crypto/secp256k1.ts'
import { onBoth } from '../../helpers/backends.ts'

const KEY_A = hexToBytes('49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee')
const KEY_B = hexToBytes('b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291')

describe('secp256k1 seam', () => {
  test('the native binding loaded on this machine', () => assert.equal(hasNativeSecp256k1, true))

  onBoth('public key, ECDH symmetry, compression round trip', () => {
    const pa = publicKeyOf(KEY_A)
    const pb = publicKeyOf(KEY_B)
    assert.equal(pa.length, 64)
    assert.deepEqual(ecdh(KEY_A, pb), ecdh(KEY_B, pa))
    const c = compressPublicKey(pa)
    assert.equal(c.length, 33)
    assert.deepEqual(uncompressPublicKey(c), pa)
  })

  onBoth('sign → recover gives the signer, v in {0,1}', () => {
    const h = keccak256(new TextEncoder().encode('devp2p'))
    const sig = sign(h, KEY_A)
    assert.equal(sig.length, 65)
    assert.ok(sig[64] === 0 || sig[64] === 1)
    assert.deepEqual(recoverPublicKey(h, sig), publicKeyOf(KEY_A))
  })

  onBoth('invalid inputs throw CryptoError', () => {
    assert.throws(() => publicKeyOf(new Uint8Array(32)), CryptoError)
    assert.throws(() => ecdh(KEY_A, new Uint8Array(64).fill(7)), CryptoError)
    assert.throws(() => recoverPublicKey(new Uint8Array(32), new Uint8Array(64)), CryptoError)
    assert.throws(() => uncompressPublicKey(new Uint8Array(12)), CryptoError)
  })

  test('fast and noble agree on random keys and messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (msg) => {
        const k = generatePrivateKey()
        const out: string[][] = []
        for (const b of ['fast', 'noble'] as const) {
          setCryptoBackend(b)
          out.push([
            bytesToHex(publicKeyOf(k)),
            bytesToHex(sign(msg, k)),
            bytesToHex(ecdh(k, publicKeyOf(KEY_B))),
          ])
        }
        setCryptoBackend('fast')
        assert.deepEqual(out[0], out[1])
      }),
      { numRuns: 50 },
    )
  })
})

describe('secp256k1 seam: the noble path (@noble/curves ECDH and recovery) matches libsecp256k1', () => {
  const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const toHex32 = (x: bigint) => x.toString(16).padStart(64, '0')
  /** result on each backend: the output hex or the CryptoError code */
  const both = (f: () => Uint8Array): string[] =>
    (['fast', 'noble'] as const).map((b) => {
      setCryptoBackend(b)
      try {
        return bytesToHex(f())
      } catch (e) {
        assert.ok(e instanceof CryptoError, `${b}: ${String(e)}`)
        return `error ${e.code}`
      } finally {
        setCryptoBackend('fast')
      }
    })

  test('ECDH with random keys, the peer key as 33, 64 and 65 bytes (60 runs)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), (form) => {
        const k = generatePrivateKey()
        const pub = publicKeyOf(generatePrivateKey())
        const enc = [compressPublicKey(pub), pub, Uint8Array.of(4, ...pub)][form]!
        const [fast, noble] = both(() => ecdh(k, enc))
        assert.equal(noble, fast)
        assert.equal(fast!.length, 64)
      }),
      { numRuns: 60 },
    )
  })

  test('ECDH and key checks reject points off the curve alike (60 runs)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (junk) => {
        const [fast, noble] = both(() => ecdh(KEY_A, junk))
        assert.equal(noble, fast)
        const [f2, n2] = both(() => uncompressPublicKey(junk))
        assert.equal(n2, f2)
      }),
      { numRuns: 60 },
    )
    const [fast, noble] = both(() => ecdh(KEY_A, new Uint8Array(64)))
    assert.equal(fast, 'error INVALID_PUBLIC_KEY')
    assert.equal(noble, fast)
  })

  test('recovery of arbitrary r, s, v (valid or not) gives the same key or the same error (150 runs)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.integer({ min: 0, max: 3 }),
        (hash, rs, v) => {
          const [fast, noble] = both(() => recoverPublicKey(hash, Uint8Array.of(...rs, v)))
          assert.equal(noble, fast)
        },
      ),
      { numRuns: 150 },
    )
  })

  test('high-s twin of a signature recovers the same key on both paths; r or s of 0 or ≥ n is refused', () => {
    const h = keccak256(new TextEncoder().encode('high s'))
    const sig = sign(h, KEY_A)
    const s = BigInt(`0x${bytesToHex(sig.subarray(32, 64))}`)
    const twin = Uint8Array.of(...sig.subarray(0, 32), ...hexToBytes(toHex32(N - s)), sig[64]! ^ 1)
    const [fast, noble] = both(() => recoverPublicKey(h, twin))
    assert.equal(fast, bytesToHex(publicKeyOf(KEY_A)))
    assert.equal(noble, fast)
    for (const bad of [0n, N, N + 1n]) {
      const withR = Uint8Array.of(...hexToBytes(toHex32(bad)), ...sig.subarray(32))
      const withS = Uint8Array.of(...sig.subarray(0, 32), ...hexToBytes(toHex32(bad)), sig[64]!)
      for (const x of [withR, withS]) {
        const [f, n] = both(() => recoverPublicKey(h, x))
        assert.equal(f, 'error INVALID_SIGNATURE')
        assert.equal(n, f)
      }
    }
  })
})

describe('keccak seam', () => {
  onBoth('known digests and running state', () => {
    assert.equal(bytesToHex(keccak256()), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
    const st = createKeccakState()
    st.update(new Uint8Array([1, 2]))
    assert.deepEqual(st.digest(), keccak256(new Uint8Array([1, 2])))
    st.update(new Uint8Array([3]))
    assert.deepEqual(st.digest(), keccak256(new Uint8Array([1, 2, 3])))
    assert.deepEqual(
      keccak256(new Uint8Array([1]), new Uint8Array([2, 3])),
      keccak256(new Uint8Array([1, 2, 3])),
    )
  })
})
