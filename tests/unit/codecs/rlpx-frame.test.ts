// RLPx frame coder: round trips between the two ends of a real handshake (payload sizes 0 B … 16 MiB,
// snappy off and on, both backends), chunked delivery, tampering, size limits, snappy limits, message
// codes, and properties: random or mutated input gives messages or DecodeError — never anything else.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { DecodeError } from '../../../codecs/errors.ts'
import {
  FrameCoder,
  type FrameSecrets,
  MAX_FRAME_SIZE,
  type RlpxMessage,
} from '../../../codecs/rlpx-frame.ts'
import {
  createAck,
  createAuth,
  initiatorSecrets,
  readAck,
  readAuth,
  recipientSecrets,
} from '../../../codecs/rlpx-handshake.ts'
import { createAesCtr } from '../../../crypto/aes.ts'
import { type CryptoBackend, setCryptoBackend } from '../../../crypto/backend.ts'
import { generatePrivateKey, publicKeyOf } from '../../../crypto/secp256k1.ts'

const keyA = generatePrivateKey()
const keyB = generatePrivateKey()

/** Both ends of a fresh handshake: `a` (initiator) and `b` (recipient) secrets. */
function handshake() {
  const { packet, state } = createAuth(keyA, publicKeyOf(keyB))
  const { packet: ack, state: rs } = createAck(readAuth(keyB, packet))
  return { a: initiatorSecrets(state, readAck(keyA, ack)), b: recipientSecrets(rs) }
}

function pair(opts: { maxFrameSize?: number; maxMessageSize?: number } = {}) {
  const { a, b } = handshake()
  return { w: new FrameCoder(a, opts), r: new FrameCoder(b, opts), a, b }
}

function readAll(r: FrameCoder): RlpxMessage[] {
  const out: RlpxMessage[] = []
  for (let m = r.read(); m; m = r.read()) out.push(m)
  return out
}

/** A frame writer outside FrameCoder, to put arbitrary sizes and bodies on the wire. */
function rawWriter(s: FrameSecrets) {
  const enc = createAesCtr(s.aes)
  return (declaredSize: number, bodyPlain: Uint8Array): Uint8Array => {
    const header = new Uint8Array(16)
    header.set([declaredSize >>> 16, (declaredSize >>> 8) & 0xff, declaredSize & 0xff, 0xc2, 0x80, 0x80])
    enc.update(header, header)
    const hmac = s.egressMac.updateHeader(header)
    const body = new Uint8Array((bodyPlain.length + 15) & ~15)
    body.set(bodyPlain)
    enc.update(body, body)
    const fmac = s.egressMac.updateBody(body)
    return Uint8Array.from([...header, ...hmac, ...body, ...fmac])
  }
}

const compressible = (n: number) => {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7) % 61
  return b
}

describe('round trips', () => {
  const sizes = [0, 1, 15, 16, 17, 1024, 1 << 20]
  for (const backend of ['fast', 'noble'] as CryptoBackend[]) {
    for (const snappy of [false, true]) {
      test(`sizes ${sizes.join(', ')}, snappy ${snappy ? 'on' : 'off'} [${backend}]`, () => {
        setCryptoBackend(backend)
        try {
          const { w, r } = pair()
          w.setSnappy(snappy)
          r.setSnappy(snappy)
          for (const n of sizes) {
            for (const payload of [new Uint8Array(randomBytes(n)), compressible(n)]) {
              const code = n % 200
              const frame = w.encode(code, payload)
              if (!snappy) assert.equal(frame.length, 32 + ((n + (code < 128 ? 1 : 2) + 15) & ~15) + 16)
              r.push(frame)
              const m = r.read()
              assert.ok(m)
              assert.equal(m.code, code)
              assert.deepEqual(m.payload, payload)
              assert.equal(Object.getPrototypeOf(m.payload), Uint8Array.prototype)
              assert.equal(r.read(), null)
            }
          }
        } finally {
          setCryptoBackend('fast')
        }
      })
    }
  }
  test('the largest messages: 2^24−2 bytes without snappy, 2^24−1 with snappy; 2^24−1 unsnappied is too big', () => {
    const { w, r } = pair()
    const big = new Uint8Array(MAX_FRAME_SIZE - 1)
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff
    r.push(w.encode(3, big))
    assert.deepEqual(r.read()?.payload, big)
    // geth writeFrame: rlp(code) + data must fit 24 bits — a 2^24−1 payload only fits compressed
    const max = new Uint8Array(MAX_FRAME_SIZE)
    max.set(big)
    assert.throws(() => w.encode(3, max), { code: 'FRAME_TOO_BIG' })
    w.setSnappy(true)
    r.setSnappy(true)
    r.push(w.encode(3, max))
    assert.deepEqual(r.read()?.payload, max)
    assert.throws(() => w.encode(3, new Uint8Array(MAX_FRAME_SIZE + 1)), { code: 'MESSAGE_TOO_BIG' })
  })
  test('message codes: 0 (0x80), 0x7f, 0x80, 0x1234, 2^40', () => {
    const { w, r } = pair()
    for (const code of [0, 0x7f, 0x80, 0x1234, 2 ** 40]) {
      r.push(w.encode(code, Uint8Array.of(0xc0)))
      assert.equal(r.read()?.code, code)
    }
    assert.throws(() => w.encode(-1, new Uint8Array(0)), RangeError)
  })
  test('pipelined frames in one chunk, and setSnappy between reads applies to the frames after', () => {
    const { w, r } = pair()
    const hello = w.encode(0, Uint8Array.of(1, 2, 3))
    w.setSnappy(true)
    const next = w.encode(0x10, compressible(5000))
    r.push(Uint8Array.from([...hello, ...next]))
    assert.deepEqual(r.read()?.payload, Uint8Array.of(1, 2, 3))
    r.setSnappy(true)
    const m = r.read()
    assert.deepEqual(m?.payload, compressible(5000))
    assert.ok(m && m.wireSize < 5000)
  })
})

describe('chunked delivery', () => {
  test('1-byte chunks for small frames', () => {
    const { w, r } = pair()
    const frames = [w.encode(1, Uint8Array.of(9)), w.encode(2, new Uint8Array(40).fill(3))]
    const got: RlpxMessage[] = []
    for (const f of frames)
      for (let i = 0; i < f.length; i++) {
        r.push(f.subarray(i, i + 1))
        got.push(...readAll(r))
      }
    assert.deepEqual(
      got.map((m) => [m.code, m.payload.length]),
      [
        [1, 1],
        [2, 40],
      ],
    )
    assert.equal(r.bufferedBytes, 0)
  })
  test('1 MiB frame in 1 KiB chunks, pushed chunks never modified', () => {
    const { w, r } = pair()
    const payload = new Uint8Array(randomBytes(1 << 20))
    const frame = w.encode(5, payload)
    const copy = frame.slice()
    const got: RlpxMessage[] = []
    for (let i = 0; i < frame.length; i += 1024) {
      r.push(frame.subarray(i, i + 1024))
      got.push(...readAll(r))
    }
    assert.equal(got.length, 1)
    assert.deepEqual(got[0]!.payload, payload)
    assert.deepEqual(frame, copy)
  })
  test('random splits of a stream of frames (fast-check, 150 runs)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(300), fc.uint8Array({ maxLength: 200 })), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 90 }), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        (msgs, cuts, snappy) => {
          const { w, r } = pair()
          w.setSnappy(snappy)
          r.setSnappy(snappy)
          const stream = Buffer.concat(msgs.map(([c, p]) => w.encode(c, p)))
          const got: RlpxMessage[] = []
          let i = 0
          for (let k = 0; i < stream.length; k++) {
            const n = cuts[k % cuts.length]!
            r.push(new Uint8Array(stream.subarray(i, i + n)))
            i += n
            got.push(...readAll(r))
          }
          assert.deepEqual(
            got.map((m) => [m.code, m.payload]),
            msgs.map(([c, p]) => [c, p]),
          )
        },
      ),
      { numRuns: 150 },
    )
  })
})

describe('tampering and limits', () => {
  const cases: Array<[string, (f: Uint8Array) => number, string]> = [
    ['header ciphertext', () => 0, 'BAD_HEADER_MAC'],
    ['header MAC', () => 20, 'BAD_HEADER_MAC'],
    ['frame ciphertext', () => 33, 'BAD_FRAME_MAC'],
    ['frame MAC', (f) => f.length - 1, 'BAD_FRAME_MAC'],
  ]
  for (const [what, at, code] of cases) {
    test(`a flipped bit in the ${what} is ${code}, and the coder stays failed`, () => {
      const { w, r } = pair()
      const f = w.encode(1, new Uint8Array(50).fill(1))
      f[at(f)]! ^= 0x10
      r.push(f)
      assert.throws(() => r.read(), { code })
      r.push(w.encode(1, new Uint8Array(1)))
      assert.throws(() => r.read(), { code })
    })
  }
  test('a frame from another connection is BAD_HEADER_MAC', () => {
    const { r } = pair()
    r.push(pair().w.encode(1, new Uint8Array(1)))
    assert.throws(() => r.read(), { code: 'BAD_HEADER_MAC' })
  })
  test('a declared frame size above maxFrameSize fails on the header, before the body arrives', () => {
    const { w, r } = pair({ maxFrameSize: 1024 })
    r.push(w.encode(1, new Uint8Array(1023)))
    assert.equal(r.read()?.payload.length, 1023)
    r.push(w.encode(1, new Uint8Array(1024)).subarray(0, 32))
    assert.throws(
      () => r.read(),
      (e: unknown) => e instanceof DecodeError && e.code === 'FRAME_TOO_BIG',
    )
  })
  test('a snappy payload declaring more than 2^24−1 bytes is MESSAGE_TOO_BIG without allocating it', () => {
    const { w, r } = pair()
    r.setSnappy(true)
    const before = process.memoryUsage().arrayBuffers
    // written uncompressed: the payload is just a varint declaring 2^32−1 (then 2^24) and one literal tag
    r.push(w.encode(0x10, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x41)))
    assert.throws(
      () => r.read(),
      (e: unknown) => e instanceof DecodeError && e.code === 'MESSAGE_TOO_BIG' && e.details.code === 0x10,
    )
    r.push(w.encode(0x11, Uint8Array.of(0x80, 0x80, 0x80, 0x08, 0x00, 0x41)))
    assert.throws(() => r.read(), { code: 'MESSAGE_TOO_BIG' })
    assert.ok(process.memoryUsage().arrayBuffers - before < 8 << 20)
    // frame-level state is intact: the next message reads fine
    w.setSnappy(true)
    r.push(w.encode(0x12, Uint8Array.of(7)))
    assert.deepEqual(r.read()?.payload, Uint8Array.of(7))
  })
  test('a payload that is not snappy is SNAPPY_INVALID with code and raw data (e.g. ethjs Disconnect 01 08)', () => {
    const { w, r } = pair()
    r.setSnappy(true)
    r.push(w.encode(0x01, Uint8Array.of(0x08)))
    assert.throws(
      () => r.read(),
      (e: unknown) =>
        e instanceof DecodeError &&
        e.code === 'SNAPPY_INVALID' &&
        e.details.code === 1 &&
        (e.details.data as Uint8Array)[0] === 8,
    )
    assert.equal(r.read(), null)
  })
  test('bad message codes in an authentic frame', () => {
    const bad: Array<[number[], string]> = [
      [[], 'BAD_MESSAGE'],
      [[0xc0], 'BAD_MESSAGE'],
      [[0x81, 0x05], 'RLP_NON_CANONICAL'],
      [[0x82, 0x00, 0x80], 'RLP_NON_CANONICAL'],
      [[0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'INT_TOO_LARGE'],
      [[0xb8, 60], 'INT_TOO_LARGE'],
      [[0x83, 1], 'BAD_MESSAGE'],
    ]
    for (const [body, code] of bad) {
      const { a, r } = pair()
      r.push(rawWriter(a)(body.length, Uint8Array.from(body)))
      assert.throws(() => r.read(), { code }, `${body}`)
    }
    // a canonical two-byte code written by hand reads back
    const { a, r } = pair()
    r.push(rawWriter(a)(4, Uint8Array.of(0x82, 0x01, 0x00, 0xaa)))
    assert.deepEqual(r.read(), { code: 256, payload: Uint8Array.of(0xaa), wireSize: 1 })
  })
})

describe('properties: only DecodeError, never a hang', () => {
  const onlyDecodeError = (r: FrameCoder) => {
    try {
      readAll(r)
    } catch (e) {
      if (!(e instanceof DecodeError)) throw new Error(`not a DecodeError: ${e}`)
    }
  }
  test('random bytes (1000 runs)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, snappy) => {
        const r = new FrameCoder(handshake().b)
        r.setSnappy(snappy)
        r.push(bytes)
        onlyDecodeError(r)
      }),
      { numRuns: 1000 },
    )
  })
  test('mutated valid streams and authentic frames with random bodies (600 runs)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 120 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 2 }),
        fc.boolean(),
        fc.integer({ min: -20, max: 0 }),
        (bodies, flips, snappy, cut) => {
          const { a, r } = pair({ maxFrameSize: 4096 })
          const raw = rawWriter(a)
          r.setSnappy(snappy)
          const stream = Buffer.concat(bodies.map((body) => raw(body.length, body)))
          const b = new Uint8Array(stream.subarray(0, stream.length + cut))
          for (const [p, x] of flips) if (b.length) b[p % b.length]! ^= x
          r.push(b)
          onlyDecodeError(r)
        },
      ),
      { numRuns: 600 },
    )
  })
})
