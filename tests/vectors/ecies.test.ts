// ECIES building blocks against tests/vectors/ecies.json (geth crypto/ecies tests: concat-KDF, public key
// derivation, shared secrets) and the RLPx EIP-8 packets as fixed ECIES decryption vectors, on both backends.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { bytesToHex, hexToBytes } from '../../codecs/bytes.ts'
import { type CryptoBackend, setCryptoBackend } from '../../crypto/backend.ts'
import { concatKdf, eciesDecrypt } from '../../crypto/ecies.ts'
import { ecdh, publicKeyOf } from '../../crypto/secp256k1.ts'
import ecies from './ecies.json' with { type: 'json' }
import hs from './rlpx-handshake-eip8.json' with { type: 'json' }
import { onBoth } from '../helpers/backends.ts'

describe('ecies.json', () => {
  for (const c of ecies.concat_kdf.cases) {
    test(`concat-KDF z=${c.z_ascii} length ${c.length}`, () => {
      assert.equal(bytesToHex(concatKdf(hexToBytes(c.z), hexToBytes(c.s1), c.length)), c.output)
    })
  }
  onBoth('public key derivation (leading-zero private key included)', () => {
    for (const c of ecies.public_key_derivation.cases)
      assert.equal(bytesToHex(publicKeyOf(hexToBytes(c.private_key))), c.public_key)
  })
  onBoth('shared secrets, both directions', () => {
    for (const c of ecies.shared_secret.cases) {
      const a = hexToBytes(c.private_key_a)
      const b = hexToBytes(c.private_key_b)
      assert.equal(bytesToHex(ecdh(a, publicKeyOf(b))), c.shared_secret)
      assert.equal(bytesToHex(ecdh(b, publicKeyOf(a))), c.shared_secret)
    }
  })
})

describe('EIP-8 handshake packets as ECIES decryption vectors', () => {
  const keys: Record<string, string> = { auth: hs.keys.static_key_b, ack: hs.keys.static_key_a }
  for (const m of hs.messages.filter((m) => m.format === 'eip8')) {
    onBoth(`${m.name}: plaintext and R point`, () => {
      const packet = hexToBytes(m.packet)
      const priv = hexToBytes(keys[m.name.slice(0, -1)]!)
      const plain = eciesDecrypt(priv, packet.subarray(2), packet.subarray(0, 2))
      assert.equal(bytesToHex(plain), m.decrypted.plaintext)
      assert.equal(bytesToHex(packet.subarray(3, 67)), m.decrypted.ecies_ephemeral_pubkey)
      // the size prefix is authenticated as shared MAC data
      assert.throws(() => eciesDecrypt(priv, packet.subarray(2)), { code: 'ECIES_MAC_MISMATCH' })
    })
  }
  onBoth('legacy auth1 decrypts with empty shared MAC data (pre-EIP-8 ECIES)', () => {
    const m = hs.messages.find((m) => m.name === 'auth1')!
    const plain = eciesDecrypt(hexToBytes(hs.keys.static_key_b), hexToBytes(m.packet))
    assert.equal(bytesToHex(plain), m.decrypted.plaintext)
  })
})
