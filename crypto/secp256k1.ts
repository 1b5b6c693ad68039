// secp256k1 seam: keys, ECDH (shared x), recoverable ECDSA (65 bytes r||s||v) and recovery.
// Fast path: the `secp256k1` package (bundled native libsecp256k1) when it loads. Portable noble path, each
// operation on the faster of the two noble libraries (measured on Node 20, ms per operation):
//   @noble/curves      ECDH (variable-base multiply: ScalarMultiplier.mulCT, 1.55 against 2.6 for
//                      @noble/secp256k1) and signature recovery (GLV-split Strauss–Shamir over public
//                      inputs, 1.3 against 2.3); also point validation (on-curve check, no encode round trip)
//   @noble/secp256k1   public keys and signing (fixed-base multiply on its precomputed G table, 0.21 / 0.25
//                      against 0.39 / 0.43 for @noble/curves)
// ECDH uses mulCT, the constant-time fixed-window multiply (a fixed sequence of doublings and additions, a
// data-oblivious table scan), unblinded: the same guarantee as @noble/secp256k1's own multiply (which has no
// blinding either); getSharedSecret would add 128 bits of scalar blinding at +50 % cost.
// Public keys are 64 bytes X||Y (no 0x04 prefix) unless named `compressed`.

import { createRequire } from 'node:module'
import { ScalarMultiplier } from '@noble/curves/abstract/curve.js'
import { secp256k1 as curves } from '@noble/curves/secp256k1.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import * as noble from '@noble/secp256k1'
import { onBackendChange } from './backend.ts'
import { randomBytes } from './random.ts'

noble.hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg)
noble.hashes.sha256 = sha256

export class CryptoError extends Error {
  readonly code:
    | 'INVALID_PRIVATE_KEY'
    | 'INVALID_PUBLIC_KEY'
    | 'INVALID_SIGNATURE'
    | 'ECIES_MAC_MISMATCH'
    | 'ECIES_TOO_SHORT'
  constructor(code: CryptoError['code'], message?: string) {
    super(message ?? code)
    this.name = 'CryptoError'
    this.code = code
  }
}

interface Secp {
  publicKey(priv: Uint8Array): Uint8Array // 65 bytes, 04-prefixed
  ecdh(priv: Uint8Array, pub65: Uint8Array): Uint8Array // 32-byte x
  sign(hash: Uint8Array, priv: Uint8Array): Uint8Array // 65 bytes r||s||v
  recover(hash: Uint8Array, sig: Uint8Array): Uint8Array // 65 bytes, 04-prefixed
  isValidPrivate(priv: Uint8Array): boolean
  decompress(pub33: Uint8Array): Uint8Array // 65 bytes
  compress(pub65: Uint8Array): Uint8Array
  /** throws unless pub65 is a point on the curve */
  validate(pub65: Uint8Array): void
}

const CurvePoint = curves.Point
const { Fn, Fp } = CurvePoint
/** no RNG: mulCT is the unblinded constant-time path (see the top) */
const constantTimeMul = new ScalarMultiplier(CurvePoint)

const nobleImpl: Secp = {
  publicKey: (priv) => noble.getPublicKey(priv, false),
  ecdh(priv, pub) {
    // fromBytes checks the point is on the curve (and not infinity: it has no 65-byte encoding)
    const q = constantTimeMul.mulCT(CurvePoint.fromBytes(pub), Fn.fromBytes(priv)).p
    return Fp.toBytes(q.toAffine().x)
  },
  sign(hash, priv) {
    const rec = noble.sign(hash, priv, { prehash: false, format: 'recovered' }) // [v, r, s]
    const out = new Uint8Array(65)
    out.set(rec.subarray(1), 0)
    out[64] = rec[0]!
    return out
  },
  recover(hash, sig) {
    const s = new curves.Signature(
      Fn.fromBytes(sig.subarray(0, 32)),
      Fn.fromBytes(sig.subarray(32, 64)),
      sig[64],
    )
    return s.recoverPublicKey(hash).toBytes(false)
  },
  isValidPrivate: (priv) => noble.utils.isValidSecretKey(priv),
  decompress: (pub) => CurvePoint.fromBytes(pub).toBytes(false),
  compress: (pub) => CurvePoint.fromBytes(pub).toBytes(true),
  validate(pub) {
    CurvePoint.fromBytes(pub)
  },
}

type NativeSecp = typeof import('secp256k1')
function loadNative(): Secp | null {
  let n: NativeSecp
  try {
    n = createRequire(import.meta.url)('secp256k1/bindings') as NativeSecp
  } catch {
    return null
  }
  return {
    publicKey: (priv) => n.publicKeyCreate(priv, false),
    // hashfn returning the x coordinate: libsecp256k1 hands (x, y) to it; we keep x.
    ecdh: (priv, pub) =>
      n.ecdh(
        pub,
        priv,
        { hashfn: (x: Uint8Array) => x, xbuf: new Uint8Array(32), ybuf: new Uint8Array(32) },
        new Uint8Array(32),
      ),
    sign(hash, priv) {
      const { signature, recid } = n.ecdsaSign(hash, priv)
      const out = new Uint8Array(65)
      out.set(signature, 0)
      out[64] = recid
      return out
    },
    recover: (hash, sig) => n.ecdsaRecover(sig.subarray(0, 64), sig[64]!, hash, false),
    isValidPrivate: (priv) => n.privateKeyVerify(priv),
    decompress: (pub) => n.publicKeyConvert(pub, false),
    compress: (pub) => n.publicKeyConvert(pub, true),
    validate(pub) {
      if (!n.publicKeyVerify(pub)) throw new Error('public key is not on the curve')
    },
  }
}

const native = loadNative()
let impl: Secp = nobleImpl
onBackendChange((b) => {
  impl = b === 'fast' && native ? native : nobleImpl
})

/** True when the native libsecp256k1 binding loaded (the fast path is available). */
export const hasNativeSecp256k1 = native !== null

function to65(pub: Uint8Array): Uint8Array {
  if (pub.length === 64) {
    const out = new Uint8Array(65)
    out[0] = 4
    out.set(pub, 1)
    return out
  }
  if (pub.length === 65 && pub[0] === 4) return pub
  if (pub.length === 33 && (pub[0] === 2 || pub[0] === 3))
    return guard(() => impl.decompress(pub), 'INVALID_PUBLIC_KEY')
  throw new CryptoError('INVALID_PUBLIC_KEY', `public key of ${pub.length} bytes`)
}

function guard<T>(f: () => T, code: CryptoError['code']): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof CryptoError) throw e
    throw new CryptoError(code, `${code}: ${(e as Error).message}`)
  }
}

export function generatePrivateKey(): Uint8Array {
  for (;;) {
    const k = randomBytes(32)
    if (impl.isValidPrivate(k)) return k
  }
}

export function isValidPrivateKey(priv: Uint8Array): boolean {
  return priv.length === 32 && impl.isValidPrivate(priv)
}

function checkPriv(priv: Uint8Array): void {
  if (!isValidPrivateKey(priv)) throw new CryptoError('INVALID_PRIVATE_KEY', 'invalid secp256k1 private key')
}

/** 64-byte X||Y public key of a private key. */
export function publicKeyOf(priv: Uint8Array): Uint8Array {
  checkPriv(priv)
  return impl.publicKey(priv).subarray(1)
}

/** Any encoding (33, 64 or 65 bytes) → 64-byte X||Y; throws CryptoError when not on the curve. */
export function uncompressPublicKey(pub: Uint8Array): Uint8Array {
  const p = to65(pub)
  // a 33-byte key was validated by its decompression; 64/65-byte ones need the on-curve check
  if (pub.length !== 33) guard(() => impl.validate(p), 'INVALID_PUBLIC_KEY')
  return p.subarray(1)
}

export function compressPublicKey(pub: Uint8Array): Uint8Array {
  return guard(() => impl.compress(to65(pub)), 'INVALID_PUBLIC_KEY')
}

/** ECDH: the 32-byte x coordinate of priv·pub (what devp2p uses as the shared secret). */
export function ecdh(priv: Uint8Array, pub: Uint8Array): Uint8Array {
  checkPriv(priv)
  return guard(() => impl.ecdh(priv, to65(pub)), 'INVALID_PUBLIC_KEY')
}

/** Recoverable signature over a 32-byte hash: 65 bytes r||s||v with v ∈ {0,1}, low s, RFC 6979. */
export function sign(hash: Uint8Array, priv: Uint8Array): Uint8Array {
  checkPriv(priv)
  return impl.sign(hash, priv)
}

/** Recover the 64-byte public key from a 65-byte r||s||v signature; throws CryptoError when invalid. */
export function recoverPublicKey(hash: Uint8Array, sig: Uint8Array): Uint8Array {
  if (sig.length !== 65 || sig[64]! > 3)
    throw new CryptoError('INVALID_SIGNATURE', 'signature must be 65 bytes r||s||v')
  return guard(() => impl.recover(hash, sig), 'INVALID_SIGNATURE').subarray(1)
}
