// ECIES as devp2p uses it for the RLPx handshake (devp2p rlpx.md "ECIES Encryption"; geth crypto/ecies with
// ECIES_AES128_SHA256): secp256k1 ECDH, NIST SP 800-56 concatenation KDF with SHA-256, AES-128-CTR and
// HMAC-SHA-256 over iv || ciphertext || sharedMacData.
//
// API
//   eciesEncrypt(pub, plaintext, sharedMacData?, rng?) → 0x04 || R(64) || iv(16) || ciphertext || tag(32)
//   eciesDecrypt(priv, data, sharedMacData?)           → plaintext; CryptoError ECIES_TOO_SHORT (fewer than
//                                                        ECIES_OVERHEAD bytes), INVALID_PUBLIC_KEY (bad R),
//                                                        ECIES_MAC_MISMATCH (tag)
//   concatKdf(z, s1, length)                           → key material (exported for the vectors)
//   ECIES_OVERHEAD = 113, randomBytes (the default RandomBytes source)
// Key material: K = concatKdf(ecdh(r, pub), empty, 32); kE = K[0:16]; kM = sha256(K[16:32]).
// `rng` supplies the ephemeral key (32 bytes, redrawn until valid) and then the IV (16 bytes): tests inject it.
import { createHmac } from 'node:crypto'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { aesCtr } from './aes.ts'
import { cryptoBackend } from './backend.ts'
import { randomBytes } from './random.ts'
import { CryptoError, ecdh, isValidPrivateKey, publicKeyOf } from './secp256k1.ts'

export { type RandomBytes, randomBytes } from './random.ts'

import type { RandomBytes } from './random.ts'

/** geth p2p/rlpx eciesOverhead: 65 (R, uncompressed) + 16 (IV) + 32 (HMAC-SHA-256 tag). */
export const ECIES_OVERHEAD = 65 + 16 + 32
const PUB_LEN = 65
const IV_LEN = 16
const TAG_LEN = 32
/** geth ECIES_AES128_SHA256: KeyLen 16 → 32 bytes of key material */
const KEY_LEN = 16
const EMPTY = new Uint8Array(0)

/** NIST SP 800-56 concatenation KDF with SHA-256 (geth crypto/ecies concatKDF): counter from 1, big-endian. */
export function concatKdf(z: Uint8Array, s1: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(length / 32) * 32)
  const counter = new Uint8Array(4)
  for (let i = 0, c = 1; i < length; i += 32, c++) {
    new DataView(counter.buffer).setUint32(0, c)
    out.set(sha256.create().update(counter).update(z).update(s1).digest(), i)
  }
  return out.subarray(0, length)
}

function deriveKeys(z: Uint8Array): { ke: Uint8Array; km: Uint8Array } {
  const k = concatKdf(z, EMPTY, 2 * KEY_LEN)
  return { ke: k.subarray(0, KEY_LEN), km: sha256(k.subarray(KEY_LEN)) }
}

function tag(km: Uint8Array, ivAndCiphertext: Uint8Array, shared: Uint8Array): Uint8Array {
  // node:crypto's HMAC is ~2.5x @noble/hashes' for these sizes; the noble path stays portable
  if (cryptoBackend() === 'fast') {
    const d = createHmac('sha256', km).update(ivAndCiphertext).update(shared).digest()
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
  }
  return hmac.create(sha256, km).update(ivAndCiphertext).update(shared).digest()
}

function ephemeralKey(rng: RandomBytes): Uint8Array {
  for (;;) {
    const k = rng(32)
    if (isValidPrivateKey(k)) return k
  }
}

/** Encrypt `plaintext` to the 64-byte (or 33/65-byte) public key `pub`. */
export function eciesEncrypt(
  pub: Uint8Array,
  plaintext: Uint8Array,
  sharedMacData: Uint8Array = EMPTY,
  rng: RandomBytes = randomBytes,
): Uint8Array {
  // geth Encrypt: an empty message is ErrInvalidMessage
  if (plaintext.length === 0) throw new CryptoError('ECIES_TOO_SHORT', 'ECIES: empty plaintext')
  const r = ephemeralKey(rng)
  const z = ecdh(r, pub)
  const { ke, km } = deriveKeys(z)
  const iv = rng(IV_LEN)
  if (iv.length !== IV_LEN) throw new RangeError('rng returned the wrong number of bytes')
  const out = new Uint8Array(ECIES_OVERHEAD + plaintext.length)
  out[0] = 0x04
  out.set(publicKeyOf(r), 1)
  out.set(iv, PUB_LEN)
  const body = out.subarray(PUB_LEN + IV_LEN, out.length - TAG_LEN)
  body.set(aesCtr(ke, iv, plaintext))
  out.set(tag(km, out.subarray(PUB_LEN, out.length - TAG_LEN), sharedMacData), out.length - TAG_LEN)
  return out
}

/** Decrypt an ECIES message with the recipient's private key; throws CryptoError. */
export function eciesDecrypt(
  priv: Uint8Array,
  data: Uint8Array,
  sharedMacData: Uint8Array = EMPTY,
): Uint8Array {
  if (data.length < ECIES_OVERHEAD)
    throw new CryptoError('ECIES_TOO_SHORT', `ECIES message of ${data.length} bytes`)
  // geth accepts only the uncompressed encoding of R (elliptic.Unmarshal)
  if (data[0] !== 0x04) throw new CryptoError('INVALID_PUBLIC_KEY', 'ECIES: R is not an uncompressed point')
  const z = ecdh(priv, data.subarray(0, PUB_LEN))
  const { ke, km } = deriveKeys(z)
  const macStart = data.length - TAG_LEN
  const want = tag(km, data.subarray(PUB_LEN, macStart), sharedMacData)
  const got = data.subarray(macStart)
  let d = 0
  for (let i = 0; i < TAG_LEN; i++) d |= want[i]! ^ got[i]!
  if (d !== 0) throw new CryptoError('ECIES_MAC_MISMATCH', 'ECIES: message tag mismatch')
  return aesCtr(ke, data.subarray(PUB_LEN, PUB_LEN + IV_LEN), data.subarray(PUB_LEN + IV_LEN, macStart))
}
