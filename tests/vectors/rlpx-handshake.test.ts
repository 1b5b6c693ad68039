// RLPx EIP-8 handshake against tests/vectors/rlpx-handshake-eip8.json (EIP-8 test vectors, geth
// TestHandshakeForwardCompatibility): auth2/auth3/ack2/ack3 decryption and fields, auth1/ack1 rejected as
// pre-EIP-8, the official aes/mac secrets and ingress-mac("foo"), and a full in-memory handshake on both backends.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { bytesToHex, hexToBytes } from '../../codecs/bytes.ts'
import { DecodeError } from '../../codecs/errors.ts'
import { rlpEncode } from '../../codecs/rlp.ts'
import {
  createAck,
  createAuth,
  deriveSecrets,
  handshakePacketLength,
  initiatorSecrets,
  readAck,
  readAuth,
  recipientSecrets,
} from '../../codecs/rlpx-handshake.ts'
import { type CryptoBackend, setCryptoBackend } from '../../crypto/backend.ts'
import v from './rlpx-handshake-eip8.json' with { type: 'json' }
import { onBoth } from '../helpers/backends.ts'

const h = hexToBytes
const keyA = h(v.keys.static_key_a)
const keyB = h(v.keys.static_key_b)
const msg = (name: string) => v.messages.find((m) => m.name === name)!
const packet = (name: string) => h(msg(name).packet)
const foo = new TextEncoder().encode('foo')

describe('EIP-8 auth packets (decrypted by B)', () => {
  for (const name of ['auth2', 'auth3']) {
    onBoth(`${name}: fields, version, extra elements, recovered ephemeral key`, () => {
      const d = msg(name).decrypted
      const a = readAuth(keyB, packet(name))
      assert.equal(bytesToHex(a.signature), d.signature)
      assert.equal(bytesToHex(a.initiatorPubkey), d.initiator_pubkey)
      assert.equal(bytesToHex(a.initiatorPubkey), v.public_keys_derived.static_pubkey_a)
      assert.equal(bytesToHex(a.initiatorNonce), d.initiator_nonce)
      assert.equal(a.version, d.version)
      assert.deepEqual(
        a.rest.map((x) => bytesToHex(rlpEncode(x))),
        d.extra_elements,
      )
      assert.equal(bytesToHex(a.remoteEphemeralPubkey), v.public_keys_derived.ephemeral_pubkey_a)
      assert.equal(handshakePacketLength(packet(name)), msg(name).packet_length)
    })
  }
})

describe('EIP-8 ack packets (decrypted by A)', () => {
  for (const name of ['ack2', 'ack3']) {
    onBoth(`${name}: fields, version, extra elements`, () => {
      const d = msg(name).decrypted
      const a = readAck(keyA, packet(name))
      assert.equal(bytesToHex(a.remoteEphemeralPubkey), d.recipient_ephemeral_pubkey)
      assert.equal(bytesToHex(a.recipientNonce), d.recipient_nonce)
      assert.equal(a.version, d.version)
      assert.deepEqual(
        a.rest.map((x) => bytesToHex(rlpEncode(x))),
        d.extra_elements,
      )
    })
  }
})

describe('pre-EIP-8 packets are rejected', () => {
  for (const name of ['auth1', 'ack1']) {
    test(`${name}`, () => {
      const p = packet(name)
      const reader = name === 'auth1' ? () => readAuth(keyB, p) : () => readAck(keyA, p)
      // the first two bytes read as a size prefix that the packet does not fill: a reader keeps waiting
      // (until its handshake deadline) and a whole-packet open fails
      assert.ok(handshakePacketLength(p)! > p.length)
      assert.throws(reader, { name: 'DecodeError', code: 'AUTH_TOO_SMALL' })
      // filled up to the declared size, the ECIES tag cannot match
      const filled = new Uint8Array(handshakePacketLength(p)!)
      filled.set(p)
      const fillReader = name === 'auth1' ? () => readAuth(keyB, filled) : () => readAck(keyA, filled)
      assert.throws(fillReader, { code: 'ECIES_FAILED' })
    })
  }
})

describe('connection secrets', () => {
  onBoth('B (recipient) derives the official aes/mac secrets and ingress-mac("foo") from auth2/ack2', () => {
    const auth = readAuth(keyB, packet('auth2'))
    const s = deriveSecrets({
      initiator: false,
      ephemeralKey: h(v.keys.ephemeral_key_b),
      remoteEphemeralPubkey: auth.remoteEphemeralPubkey,
      initiatorNonce: auth.initiatorNonce,
      recipientNonce: h(v.keys.nonce_b),
      authPacket: auth.packet,
      ackPacket: packet('ack2'),
      remotePubkey: auth.initiatorPubkey,
    })
    assert.equal(bytesToHex(s.aes), v.secrets.aes_secret)
    assert.equal(bytesToHex(s.mac), v.secrets.mac_secret)
    s.ingressMac.update(foo)
    assert.equal(bytesToHex(s.ingressMac.digest()), v.secrets.ingress_mac_foo)
    assert.equal(bytesToHex(s.remotePubkey), v.public_keys_derived.static_pubkey_a)
  })
  onBoth('A (initiator) derives the same secrets; its egress-mac("foo") is B\'s ingress-mac("foo")', () => {
    const ack = readAck(keyA, packet('ack2'))
    const s = initiatorSecrets(
      {
        remotePubkey: h(v.public_keys_derived.static_pubkey_b),
        ephemeralKey: h(v.keys.ephemeral_key_a),
        nonce: h(v.keys.nonce_a),
        authPacket: packet('auth2'),
      },
      ack,
    )
    assert.equal(bytesToHex(s.aes), v.secrets.aes_secret)
    assert.equal(bytesToHex(s.mac), v.secrets.mac_secret)
    s.egressMac.update(foo)
    assert.equal(bytesToHex(s.egressMac.digest()), v.secrets.ingress_mac_foo)
  })
})

describe('our packets', () => {
  onBoth('createAuth/createAck with the vector keys and nonces decode to the vector fields', () => {
    const { packet: auth } = createAuth(keyA, h(v.public_keys_derived.static_pubkey_b), {
      ephemeralKey: h(v.keys.ephemeral_key_a),
      nonce: h(v.keys.nonce_a),
    })
    const a = readAuth(keyB, auth)
    assert.equal(bytesToHex(a.remoteEphemeralPubkey), v.public_keys_derived.ephemeral_pubkey_a)
    assert.equal(bytesToHex(a.initiatorNonce), v.keys.nonce_a)
    assert.equal(a.version, 4)
    assert.deepEqual(a.rest, [])
    const { packet: ack } = createAck(a, { ephemeralKey: h(v.keys.ephemeral_key_b), nonce: h(v.keys.nonce_b) })
    const k = readAck(keyA, ack)
    assert.equal(bytesToHex(k.remoteEphemeralPubkey), v.public_keys_derived.ephemeral_pubkey_b)
    assert.equal(bytesToHex(k.recipientNonce), v.keys.nonce_b)
    // EIP-8 sizes: body + 100..199 bytes of padding + 113 bytes of ECIES + 2 bytes of prefix
    assert.ok(auth.length >= 169 + 2 + 100 + 113 && auth.length <= 169 + 2 + 199 + 113, `${auth.length}`)
    assert.ok(ack.length >= 102 + 100 + 113 + 2 && ack.length <= 102 + 199 + 113 + 2, `${ack.length}`)
  })
  onBoth('a full initiator ↔ recipient handshake in memory derives identical secrets', () => {
    const { packet: auth, state } = createAuth(keyA, h(v.public_keys_derived.static_pubkey_b))
    const received = readAuth(keyB, auth)
    assert.equal(bytesToHex(received.initiatorPubkey), v.public_keys_derived.static_pubkey_a)
    const { packet: ack, state: rstate } = createAck(received)
    const si = initiatorSecrets(state, readAck(keyA, ack))
    const sr = recipientSecrets(rstate)
    assert.deepEqual(si.aes, sr.aes)
    assert.deepEqual(si.mac, sr.mac)
    assert.deepEqual(si.egressMac.digest(), sr.ingressMac.digest())
    assert.deepEqual(si.ingressMac.digest(), sr.egressMac.digest())
    assert.notDeepEqual(si.egressMac.digest(), si.ingressMac.digest())
    assert.equal(bytesToHex(si.remotePubkey), v.public_keys_derived.static_pubkey_b)
    assert.equal(bytesToHex(sr.remotePubkey), v.public_keys_derived.static_pubkey_a)
  })
  test('an auth sealed for another key fails with ECIES_FAILED', () => {
    const { packet: auth } = createAuth(keyA, h(v.public_keys_derived.static_pubkey_b))
    assert.throws(() => readAuth(keyA, auth), (e: unknown) => e instanceof DecodeError && e.code === 'ECIES_FAILED')
  })
})
