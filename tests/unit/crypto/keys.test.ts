// Node keys: geth's --nodekeyhex and nodekey-file rules, node ids, and the v4 signature check.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import fc from 'fast-check'
import { bytesToHex, hexToBytes } from '../../../codecs/bytes.ts'
import { setCryptoBackend } from '../../../crypto/backend.ts'
import { keccak256 } from '../../../crypto/keccak.ts'
import {
  formatNodeKeyFile,
  loadNodeKey,
  nodeIdOf,
  nodeIdOfPrivateKey,
  parseNodeKeyFile,
  parsePrivateKeyHex,
  SECP256K1_N,
  saveNodeKey,
  verifySignature,
} from '../../../crypto/keys.ts'
import { CryptoError, compressPublicKey, publicKeyOf, sign } from '../../../crypto/secp256k1.ts'

const KEY = 'b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291'
const ID = 'a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7'

const rejects = (f: () => unknown, text: string) =>
  assert.throws(
    f,
    (e) => e instanceof CryptoError && e.code === 'INVALID_PRIVATE_KEY' && e.message.includes(text),
  )

const dir = mkdtempSync(join(tmpdir(), 'devp2p-keys-'))
after(() => rmSync(dir, { recursive: true, force: true }))

describe('parsePrivateKeyHex (geth HexToECDSA)', () => {
  it('accepts 64 hex chars with or without 0x, any case', () => {
    for (const s of [KEY, `0x${KEY}`, KEY.toUpperCase(), `0X${KEY}`])
      assert.equal(bytesToHex(parsePrivateKeyHex(s)), KEY)
  })
  it('rejects bad keys with geth messages', () => {
    rejects(() => parsePrivateKeyHex('abcd'), 'invalid length, need 256 bits')
    rejects(() => parsePrivateKeyHex(`${KEY}00`), 'invalid length, need 256 bits')
    rejects(() => parsePrivateKeyHex(KEY.slice(1)), 'invalid hex data for private key')
    rejects(() => parsePrivateKeyHex(`${KEY.slice(2)}zz`), 'invalid hex character "z" in private key')
    rejects(() => parsePrivateKeyHex('0'.repeat(64)), 'invalid private key, zero or negative')
    rejects(() => parsePrivateKeyHex(SECP256K1_N.toString(16)), 'invalid private key, >=N')
    rejects(() => parsePrivateKeyHex('f'.repeat(64)), 'invalid private key, >=N')
    assert.equal(parsePrivateKeyHex((SECP256K1_N - 1n).toString(16)).length, 32)
  })
})

describe('nodekey files (geth LoadECDSA / SaveECDSA)', () => {
  it('accepts 64 hex chars followed by up to two line-ending characters', () => {
    for (const tail of ['', '\n', '\r\n', '\n\n']) assert.equal(bytesToHex(parseNodeKeyFile(KEY + tail)), KEY)
    assert.equal(bytesToHex(parseNodeKeyFile(new TextEncoder().encode(`${KEY}\n`))), KEY)
  })
  it('rejects short, long and trailing garbage like geth', () => {
    rejects(() => parseNodeKeyFile(KEY.slice(0, 63)), 'key file too short, want 64 hex characters')
    rejects(() => parseNodeKeyFile(`${KEY.slice(0, 40)} ${KEY.slice(40)}`), 'key file too short')
    rejects(() => parseNodeKeyFile(`${KEY}\n\n\n`), 'key file too long, want 64 hex characters')
    rejects(() => parseNodeKeyFile(`${KEY}0`), 'invalid character "0" at end of key file')
    rejects(() => parseNodeKeyFile(`0x${KEY}`), 'invalid character')
    rejects(() => parseNodeKeyFile(`${'g'.repeat(64)}`), 'invalid hex character')
  })
  it('saves 64 lower-case hex chars with mode 0600 and loads them back', () => {
    const file = join(dir, 'nodekey')
    saveNodeKey(file, hexToBytes(KEY))
    assert.equal(readFileSync(file, 'utf8'), KEY)
    assert.equal(formatNodeKeyFile(hexToBytes(KEY)), KEY)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(bytesToHex(loadNodeKey(file)), KEY)
  })
  it('names the file when its contents are bad; file-system errors propagate', () => {
    const file = join(dir, 'short')
    writeFileSync(file, KEY.slice(0, 10))
    rejects(() => loadNodeKey(file), `${file}: key file too short`)
    assert.throws(() => loadNodeKey(join(dir, 'missing')), /ENOENT/)
    rejects(() => formatNodeKeyFile(new Uint8Array(32)), 'invalid secp256k1 private key')
  })
})

describe('node ids', () => {
  it('nodeIdOf = keccak256(64-byte key) for every key encoding (EIP-778 example)', () => {
    const priv = hexToBytes(KEY)
    const pub = publicKeyOf(priv)
    assert.equal(bytesToHex(nodeIdOf(pub)), ID)
    assert.equal(bytesToHex(nodeIdOf(compressPublicKey(pub))), ID)
    assert.equal(bytesToHex(nodeIdOf(Uint8Array.of(4, ...pub))), ID)
    assert.equal(bytesToHex(nodeIdOfPrivateKey(priv)), ID)
    assert.equal(bytesToHex(keccak256(pub)), ID)
  })
})

for (const backend of ['fast', 'noble'] as const) {
  describe(`verifySignature [${backend}]`, () => {
    const withBackend = (f: () => void) => () => {
      setCryptoBackend(backend)
      try {
        f()
      } finally {
        setCryptoBackend('fast')
      }
    }
    it(
      'accepts what sign() made, rejects other keys, other hashes, high s, bad lengths',
      withBackend(() => {
        fc.assert(
          fc.property(
            fc.uint8Array({ minLength: 32, maxLength: 32 }),
            fc.uint8Array({ minLength: 32, maxLength: 32 }),
            (seed, hash) => {
              const priv = keccak256(seed)
              const other = keccak256(priv)
              const sig = sign(hash, priv).subarray(0, 64)
              const pub = publicKeyOf(priv)
              assert.equal(verifySignature(hash, sig, pub), true)
              assert.equal(verifySignature(hash, sig, compressPublicKey(pub)), true)
              assert.equal(verifySignature(hash, sig, publicKeyOf(other)), false)
              assert.equal(verifySignature(keccak256(hash), sig, pub), false)
              // the malleable twin (r, N - s) is valid ECDSA but rejected like geth
              let s = 0n
              for (const x of sig.subarray(32)) s = (s << 8n) | BigInt(x)
              const high = sig.slice()
              high.set(hexToBytes((SECP256K1_N - s).toString(16).padStart(64, '0')), 32)
              assert.equal(verifySignature(hash, high, pub), false)
              assert.equal(verifySignature(hash, sign(hash, priv), pub), false) // 65 bytes
            },
          ),
          { numRuns: backend === 'fast' ? 100 : 20 },
        )
      }),
    )
  })
}
