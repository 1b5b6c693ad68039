// RLPx handshake codec: injected randomness, packet-length framing from partial buffers, field validation,
// and properties: any bytes (random, mutated, or validly encrypted garbage) given to readAuth/readAck either
// decode or throw DecodeError — never anything else.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { DecodeError } from '../../../codecs/errors.ts'
import { rlpEncode } from '../../../codecs/rlp.ts'
import {
  createAck,
  createAuth,
  handshakePacketLength,
  initiatorSecrets,
  MAX_HANDSHAKE_SIZE,
  readAck,
  readAuth,
  recipientSecrets,
} from '../../../codecs/rlpx-handshake.ts'
import { eciesEncrypt, type RandomBytes } from '../../../crypto/ecies.ts'
import { generatePrivateKey, publicKeyOf, sign } from '../../../crypto/secp256k1.ts'

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

const keyA = generatePrivateKey()
const keyB = generatePrivateKey()
const pubA = publicKeyOf(keyA)
const pubB = publicKeyOf(keyB)

/** An EIP-8 packet holding an arbitrary plaintext, correctly encrypted to `pub`. */
function sealRaw(pub: Uint8Array, plain: Uint8Array): Uint8Array {
  const size = plain.length + 113
  const prefix = Uint8Array.of(size >> 8, size & 0xff)
  const enc = eciesEncrypt(pub, plain, prefix)
  const out = new Uint8Array(2 + enc.length)
  out.set(prefix)
  out.set(enc, 2)
  return out
}

const onlyDecodeError = (f: () => unknown) => {
  try {
    f()
  } catch (e) {
    if (!(e instanceof DecodeError)) throw new Error(`not a DecodeError: ${e}`)
  }
}

describe('handshake codec', () => {
  test('injected randomness reproduces auth and ack byte for byte', () => {
    const a1 = createAuth(keyA, pubB, { rng: seeded(7) }).packet
    const a2 = createAuth(keyA, pubB, { rng: seeded(7) }).packet
    assert.deepEqual(a1, a2)
    assert.notDeepEqual(createAuth(keyA, pubB, { rng: seeded(8) }).packet, a1)
    const auth = readAuth(keyB, a1)
    assert.deepEqual(createAck(auth, { rng: seeded(3) }).packet, createAck(auth, { rng: seeded(3) }).packet)
  })
  test('padding length is honoured and drawn from 100..199 by default', () => {
    const base = createAuth(keyA, pubB, { paddingLength: 0 }).packet.length
    assert.equal(createAuth(keyA, pubB, { paddingLength: 150 }).packet.length, base + 150)
    for (let i = 0; i < 30; i++) {
      const pad = createAuth(keyA, pubB, { rng: seeded(i) }).packet.length - base
      assert.ok(pad >= 100 && pad <= 199, `${pad}`)
    }
  })
  test('handshakePacketLength reads the prefix from partial buffers', () => {
    const p = createAuth(keyA, pubB).packet
    assert.equal(handshakePacketLength(p.subarray(0, 0)), null)
    assert.equal(handshakePacketLength(p.subarray(0, 1)), null)
    assert.equal(handshakePacketLength(p.subarray(0, 2)), p.length)
    assert.throws(() => handshakePacketLength(Uint8Array.of(0x08, 0x01)), { code: 'AUTH_TOO_BIG' })
    assert.equal(handshakePacketLength(Uint8Array.of(0x08, 0x00)), MAX_HANDSHAKE_SIZE + 2)
    assert.throws(() => handshakePacketLength(Uint8Array.of(0, 113)), { code: 'AUTH_TOO_SMALL' })
  })
  test('exactly one packet: a longer buffer is BAD_LENGTH, a shorter one AUTH_TOO_SMALL', () => {
    const p = createAuth(keyA, pubB).packet
    const longer = new Uint8Array(p.length + 1)
    longer.set(p)
    assert.throws(() => readAuth(keyB, longer), { code: 'BAD_LENGTH' })
    assert.throws(() => readAuth(keyB, p.subarray(0, p.length - 1)), { code: 'AUTH_TOO_SMALL' })
    assert.throws(() => readAuth(keyB, p.subarray(0, 1)), { code: 'AUTH_TOO_SMALL' })
  })
  test('field validation: too few elements, wrong sizes, invalid public key, bad signature, non-canonical version', () => {
    const sig = sign(new Uint8Array(32).fill(1), keyA)
    const nonce = new Uint8Array(32).fill(2)
    const pad = new Uint8Array(100)
    const auth = (fields: Parameters<typeof rlpEncode>[0]) => {
      const body = rlpEncode(fields)
      const plain = new Uint8Array(body.length + pad.length)
      plain.set(body)
      return () => readAuth(keyB, sealRaw(pubB, plain))
    }
    assert.throws(auth([sig, pubA, nonce]), { code: 'RLP_TOO_FEW_ELEMENTS' })
    assert.throws(auth([sig.subarray(1), pubA, nonce, 4]), { code: 'BAD_LENGTH' })
    assert.throws(auth([sig, pubA.subarray(1), nonce, 4]), { code: 'BAD_LENGTH' })
    assert.throws(auth([sig, new Uint8Array(64).fill(5), nonce, 4]), { code: 'BAD_PUBLIC_KEY' })
    assert.throws(auth([new Uint8Array(65).fill(0xff), pubA, nonce, 4]), { code: 'BAD_SIGNATURE' })
    assert.throws(auth([sig, pubA, nonce, Uint8Array.of(0, 4)]), { code: 'INT_LEADING_ZERO' })
    assert.throws(auth([[sig], pubA, nonce, 4]), { code: 'RLP_UNEXPECTED_TYPE' })
    // a signature over anything else recovers some key: accepted, the secrets just will not match
    assert.equal(auth([sig, pubA, nonce, 4, 'extra'])().rest.length, 1)
    const ack = (fields: Parameters<typeof rlpEncode>[0]) => () =>
      readAck(keyA, sealRaw(pubA, rlpEncode(fields)))
    assert.throws(ack([new Uint8Array(64).fill(5), nonce, 4]), { code: 'BAD_PUBLIC_KEY' })
    assert.throws(ack([pubB, nonce]), { code: 'RLP_TOO_FEW_ELEMENTS' })
    assert.throws(ack('not a list'), { code: 'RLP_UNEXPECTED_TYPE' })
    assert.equal(ack([pubB, nonce, 99, 1, 2])().version, 99)
  })
  test('handshakes with random keys agree (10 runs)', () => {
    for (let i = 0; i < 10; i++) {
      const a = generatePrivateKey()
      const b = generatePrivateKey()
      const { packet, state } = createAuth(a, publicKeyOf(b))
      const { packet: ack, state: rs } = createAck(readAuth(b, packet))
      const si = initiatorSecrets(state, readAck(a, ack))
      const sr = recipientSecrets(rs)
      assert.deepEqual(si.aes, sr.aes)
      assert.deepEqual(si.egressMac.digest(), sr.ingressMac.digest())
    }
  })
})

describe('properties: only DecodeError, never a hang', () => {
  const validAuth = createAuth(keyA, pubB).packet
  const validAck = createAck(readAuth(keyB, validAuth)).packet
  test('random bytes (1500 runs)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        onlyDecodeError(() => readAuth(keyB, b))
        onlyDecodeError(() => readAck(keyA, b))
        onlyDecodeError(() => handshakePacketLength(b))
      }),
      { numRuns: 1500 },
    )
  })
  test('mutated valid packets: bit flips, truncations, extensions (1500 runs)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('auth', 'ack'),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
        fc.integer({ min: -40, max: 40 }),
        (kind, flips, lenDelta) => {
          const src = kind === 'auth' ? validAuth : validAck
          const n = Math.max(0, src.length + lenDelta)
          const b = new Uint8Array(n)
          b.set(src.subarray(0, n))
          for (const [pos, x] of flips) if (n > 0) b[pos % n]! ^= x
          onlyDecodeError(() => (kind === 'auth' ? readAuth(keyB, b) : readAck(keyA, b)))
        },
      ),
      { numRuns: 1500 },
    )
  })
  test('correctly encrypted arbitrary plaintexts reach the RLP and field checks (400 runs)', () => {
    const field = fc.oneof(
      fc.uint8Array({ maxLength: 70 }),
      fc.constant(pubA),
      fc.constant(new Uint8Array(65)),
      fc.nat(300),
      fc.array(fc.uint8Array({ maxLength: 4 }), { maxLength: 3 }),
    )
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }),
          fc.array(field, { maxLength: 6 }).map((l) => rlpEncode(l as Parameters<typeof rlpEncode>[0])),
        ),
        (plain) => {
          onlyDecodeError(() => readAuth(keyB, sealRaw(pubB, plain)))
          onlyDecodeError(() => readAck(keyA, sealRaw(pubA, plain)))
        },
      ),
      { numRuns: 400 },
    )
  })
})
