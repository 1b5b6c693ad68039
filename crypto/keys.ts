// Node keys (go-ethereum crypto.HexToECDSA / LoadECDSA / SaveECDSA, p2p/enode.PubkeyToIDV4): secp256k1
// private keys from hex (`--nodekeyhex`) and geth `nodekey` files, node ids = keccak256(64-byte public key),
// and the v4-scheme signature check (64-byte r||s, low s) that ENR verification needs.
//
// API
//   parsePrivateKeyHex(hex)          32-byte key from 64 hex chars, `0x` optional (geth HexToECDSA rules)
//   parseNodeKeyFile(text)           geth nodekey file contents: 64 hex chars, ≤ 2 trailing \n/\r tolerated
//   formatNodeKeyFile(priv)          file contents geth writes (64 lower-case hex chars, no newline)
//   loadNodeKey(path) / saveNodeKey(path, priv)   the only I/O here (node:fs, mode 0600 like geth)
//   nodeIdOf(pubkey)                 keccak256 of the 64-byte X||Y key (33/65-byte forms are uncompressed first)
//   nodeIdOfPrivateKey(priv)
//   verifySignature(hash, sig64, pubkey)   geth crypto.VerifySignature: r||s, rejects high s
// Bad keys throw CryptoError('INVALID_PRIVATE_KEY' | 'INVALID_PUBLIC_KEY') with geth's wording.
import { readFileSync, writeFileSync } from 'node:fs'
import { keccak256 } from './keccak.ts'
import {
  CryptoError,
  isValidPrivateKey,
  publicKeyOf,
  recoverPublicKey,
  uncompressPublicKey,
} from './secp256k1.ts'

/** secp256k1 group order N and N/2 (geth crypto.secp256k1N / secp256k1halfN). */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
export const SECP256K1_HALF_N = SECP256K1_N >> 1n
/** geth nodekey files hold exactly this many hex characters. */
export const NODEKEY_HEX_LENGTH = 64

const HEX_RE = /^[0-9a-fA-F]*$/

function bigOf(b: Uint8Array): bigint {
  let n = 0n
  for (const x of b) n = (n << 8n) | BigInt(x)
  return n
}

/** A private key from hex (geth `--nodekeyhex`, crypto.HexToECDSA); an optional `0x` prefix is accepted. */
export function parsePrivateKeyHex(hex: string): Uint8Array {
  const h = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex
  const bad = h.split('').find((c) => !HEX_RE.test(c))
  if (bad !== undefined)
    throw new CryptoError(
      'INVALID_PRIVATE_KEY',
      `invalid hex character ${JSON.stringify(bad)} in private key`,
    )
  if (h.length % 2 !== 0) throw new CryptoError('INVALID_PRIVATE_KEY', 'invalid hex data for private key')
  const key = new Uint8Array(Buffer.from(h, 'hex'))
  if (key.length !== 32) throw new CryptoError('INVALID_PRIVATE_KEY', 'invalid length, need 256 bits')
  const d = bigOf(key)
  if (d >= SECP256K1_N) throw new CryptoError('INVALID_PRIVATE_KEY', 'invalid private key, >=N')
  if (d === 0n) throw new CryptoError('INVALID_PRIVATE_KEY', 'invalid private key, zero or negative')
  return key
}

/**
 * Contents of a geth nodekey file (crypto.LoadECDSA): 64 hex characters, then at most two `\n`/`\r`
 * (geth reads printable characters up to 64, then tolerates a short run of line endings).
 */
export function parseNodeKeyFile(contents: string | Uint8Array): Uint8Array {
  const text = typeof contents === 'string' ? contents : Buffer.from(contents).toString('latin1')
  let n = 0
  while (n < NODEKEY_HEX_LENGTH && n < text.length && text.charCodeAt(n) >= 0x21) n++
  if (n !== NODEKEY_HEX_LENGTH)
    throw new CryptoError('INVALID_PRIVATE_KEY', 'key file too short, want 64 hex characters')
  const tail = text.slice(NODEKEY_HEX_LENGTH)
  for (let i = 0; i < tail.length; i++) {
    const c = tail[i]!
    if (c !== '\n' && c !== '\r')
      throw new CryptoError(
        'INVALID_PRIVATE_KEY',
        `invalid character ${JSON.stringify(c)} at end of key file`,
      )
    if (i >= 2) throw new CryptoError('INVALID_PRIVATE_KEY', 'key file too long, want 64 hex characters')
  }
  return parsePrivateKeyHex(text.slice(0, NODEKEY_HEX_LENGTH))
}

/** What geth's SaveECDSA writes: the key as 64 lower-case hex characters, no newline. */
export function formatNodeKeyFile(priv: Uint8Array): string {
  if (!isValidPrivateKey(priv)) throw new CryptoError('INVALID_PRIVATE_KEY', 'invalid secp256k1 private key')
  return Buffer.from(priv).toString('hex')
}

/** Load a geth nodekey file. File-system errors propagate; bad contents throw CryptoError naming the file. */
export function loadNodeKey(path: string): Uint8Array {
  const contents = readFileSync(path)
  try {
    return parseNodeKeyFile(contents)
  } catch (e) {
    if (e instanceof CryptoError) throw new CryptoError(e.code, `${path}: ${e.message}`)
    throw e
  }
}

/** Write a geth nodekey file (mode 0600, like geth's SaveECDSA). */
export function saveNodeKey(path: string, priv: Uint8Array): void {
  writeFileSync(path, formatNodeKeyFile(priv), { mode: 0o600 })
}

/** Node id = keccak256(64-byte X||Y public key); 33- and 65-byte encodings are converted first. */
export function nodeIdOf(pubkey: Uint8Array): Uint8Array {
  if (pubkey.length === 64) return keccak256(pubkey)
  return keccak256(uncompressPublicKey(pubkey))
}

export function nodeIdOfPrivateKey(priv: Uint8Array): Uint8Array {
  return keccak256(publicKeyOf(priv))
}

/**
 * geth crypto.VerifySignature: a 64-byte r||s signature over a 32-byte hash by `pubkey` (33, 64 or
 * 65 bytes). High-s (malleable) signatures and r or s out of range are rejected. Implemented with the
 * recovery seam (fast native path when loaded): recover with v = 0 and v = 1 and compare.
 */
export function verifySignature(hash: Uint8Array, sig: Uint8Array, pubkey: Uint8Array): boolean {
  if (sig.length !== 64 || hash.length !== 32) return false
  const r = bigOf(sig.subarray(0, 32))
  const s = bigOf(sig.subarray(32, 64))
  if (r === 0n || s === 0n || r >= SECP256K1_N || s > SECP256K1_HALF_N) return false
  let want: Uint8Array
  try {
    want = pubkey.length === 64 ? pubkey : uncompressPublicKey(pubkey)
  } catch {
    return false
  }
  const full = new Uint8Array(65)
  full.set(sig)
  for (const v of [0, 1]) {
    full[64] = v
    try {
      if (Buffer.from(recoverPublicKey(hash, full)).equals(want)) return true
    } catch {
      // no point for this recovery id
    }
  }
  return false
}
