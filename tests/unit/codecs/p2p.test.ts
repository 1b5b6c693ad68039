// Unit and property tests for codecs/p2p.ts: Hello, Disconnect (geth decodeDisconnectMessage), DiscReason
// strings, Ping/Pong payloads and capability matching (geth TestMatchProtocols cases).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { bytesToHex, hexToBytes } from '../../../codecs/bytes.ts'
import { DecodeError } from '../../../codecs/errors.ts'
import {
  assertHelloSize,
  BASE_PROTOCOL_LENGTH,
  BASE_PROTOCOL_VERSION,
  type Capability,
  capString,
  countMatchingProtocols,
  DISC_INVALID,
  DiscReason,
  decodeDisconnect,
  decodeHello,
  discReasonString,
  encodeDisconnect,
  encodeHello,
  encodePing,
  encodePong,
  HELLO_MAX_SIZE,
  type Hello,
  helloFailureReason,
  isDiscReason,
  matchProtocols,
  P2P_MSG,
  PING_PAYLOAD,
  PONG_PAYLOAD,
  type ProtocolCap,
} from '../../../codecs/p2p.ts'
import { type RlpInput, rlpEncode } from '../../../codecs/rlp.ts'

const id = new Uint8Array(64).fill(7)
const hello: Hello = {
  version: 5,
  name: 'Geth/v1.14.0-stable/linux-amd64/go1.22.1',
  caps: [
    { name: 'eth', version: 68 },
    { name: 'snap', version: 1 },
  ],
  listenPort: 0,
  id,
}

function throwsCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => e instanceof DecodeError && e.code === code)
}

describe('p2p constants', () => {
  it('match geth p2p/peer.go', () => {
    assert.deepEqual(P2P_MSG, { hello: 0, disconnect: 1, ping: 2, pong: 3 })
    assert.equal(BASE_PROTOCOL_VERSION, 5)
    assert.equal(BASE_PROTOCOL_LENGTH, 16)
    assert.equal(HELLO_MAX_SIZE, 2048)
  })
  it('Ping and Pong carry an empty list', () => {
    for (const p of [PING_PAYLOAD, PONG_PAYLOAD, encodePing(), encodePong()])
      assert.equal(bytesToHex(p), 'c0')
  })
})

describe('DiscReason', () => {
  const geth: [number, string][] = [
    [0x00, 'disconnect requested'],
    [0x01, 'network error'],
    [0x02, 'breach of protocol'],
    [0x03, 'useless peer'],
    [0x04, 'too many peers'],
    [0x05, 'already connected'],
    [0x06, 'incompatible p2p protocol version'],
    [0x07, 'invalid node identity'],
    [0x08, 'client quitting'],
    [0x09, 'unexpected identity'],
    [0x0a, 'connected to self'],
    [0x0b, 'read timeout'],
    [0x10, 'subprotocol error'],
  ]
  it("has geth's values and exact strings", () => {
    assert.deepEqual(
      Object.values(DiscReason).sort((a, b) => a - b),
      geth.map(([v]) => v),
    )
    for (const [v, s] of geth) {
      assert.equal(discReasonString(v), s)
      assert.equal(isDiscReason(v), true)
    }
    assert.equal(DiscReason.TooManyPeers, 0x04)
    assert.equal(DiscReason.SubprotocolError, 0x10)
    assert.equal(discReasonString(DISC_INVALID), 'invalid disconnect reason')
    assert.equal(discReasonString(0x0c), 'unknown disconnect reason 12')
    assert.equal(discReasonString(0x0f), 'unknown disconnect reason 15')
    assert.equal(isDiscReason(0x0c), false)
    assert.equal(isDiscReason(DISC_INVALID), false)
  })
})

describe('Disconnect', () => {
  it('encodes as geth sends it: [reason]', () => {
    assert.equal(bytesToHex(encodeDisconnect(DiscReason.Requested)), 'c180')
    assert.equal(bytesToHex(encodeDisconnect(DiscReason.TooManyPeers)), 'c104')
    assert.equal(bytesToHex(encodeDisconnect(DiscReason.SubprotocolError)), 'c110')
    assert.throws(() => encodeDisconnect(256), RangeError)
  })

  it('decodes like geth decodeDisconnectMessage', () => {
    const cases: [string, number][] = [
      ['c104', 4], // [reason]
      ['c180', 0],
      ['c110', 0x10],
      ['c20809', 8], // extra elements ignored
      ['08', 8], // bare integer (ethjs sends the reason like this)
      ['80', 0], // bare empty string = 0
      ['10', 0x10],
      ['0c', 0x0c], // unknown reasons are carried as they are
      ['81ff', 0xff],
      ['81c8', 0xc8],
      ['c281c8', 0xc8],
      ['0801', 8], // trailing bytes after a bare integer are not read
      ['', DISC_INVALID], // empty payload
      ['c0', DISC_INVALID], // empty list: geth gets EOL → DiscInvalid (not DiscRequested)
      ['8108', DISC_INVALID], // non-canonical single byte
      ['c18108', DISC_INVALID],
      ['820100', DISC_INVALID], // more than one byte
      ['c2c108', DISC_INVALID], // list as the reason
      ['c3', DISC_INVALID], // truncated list
      ['81', DISC_INVALID], // truncated string
      ['f80108', DISC_INVALID], // non-canonical long list header
      ['b80108', DISC_INVALID],
    ]
    for (const [h, want] of cases) assert.equal(decodeDisconnect(hexToBytes(h)), want, h)
  })

  it('honours geth’s 100-byte stream limit', () => {
    const fits = rlpEncode([4, new Uint8Array(94)]) // 2 + 1 + 95 + … = 98 bytes total
    assert.ok(fits.length <= 100)
    assert.equal(decodeDisconnect(fits), 4)
    const tooBig = rlpEncode([4, new Uint8Array(200)])
    assert.equal(decodeDisconnect(tooBig), DISC_INVALID)
  })

  it('round-trips every reason', () => {
    for (let r = 0; r < 256; r++) assert.equal(decodeDisconnect(encodeDisconnect(r)), r)
  })

  it('never throws and always returns a uint8 (random bytes)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const r = decodeDisconnect(b)
        assert.ok(Number.isInteger(r) && r >= 0 && r <= 255)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('Hello', () => {
  it('round-trips and encodes geth’s field order', () => {
    const enc = encodeHello(hello)
    assert.deepEqual(decodeHello(enc), hello)
    const want = rlpEncode([
      5,
      hello.name,
      [
        ['eth', 68],
        ['snap', 1],
      ],
      0,
      id,
    ] as RlpInput[])
    assert.equal(bytesToHex(enc), bytesToHex(want))
  })

  it('keeps extra elements and ignores bytes after the list', () => {
    const h = { ...hello, extra: [Uint8Array.of(1), [Uint8Array.of(2, 3)]] }
    assert.deepEqual(decodeHello(encodeHello(h)), h)
    const withTrailing = new Uint8Array([...encodeHello(hello), 0xc0, 0x01])
    assert.deepEqual(decodeHello(withTrailing), hello)
  })

  it('accepts large integers up to uint64 and unknown versions', () => {
    const enc = rlpEncode([55, 'x', [], 2n ** 48n, id] as RlpInput[])
    const h = decodeHello(enc)
    assert.equal(h.version, 55)
    assert.equal(h.listenPort, 2 ** 48)
    throwsCode(
      () => decodeHello(rlpEncode([new Uint8Array(9).fill(1), 'x', [], 0, id] as RlpInput[])),
      'INT_TOO_LARGE',
    )
  })

  it('rejects malformed Hellos', () => {
    const enc = (items: RlpInput[]) => rlpEncode(items)
    throwsCode(() => decodeHello(enc([5, 'x', [], 0])), 'RLP_TOO_FEW_ELEMENTS')
    throwsCode(() => decodeHello(rlpEncode('hello')), 'RLP_UNEXPECTED_TYPE')
    throwsCode(() => decodeHello(enc([5, 'x', [['eth', 68, 1]], 0, id])), 'BAD_MESSAGE') // Cap has no tail
    throwsCode(() => decodeHello(enc([5, 'x', [['eth']], 0, id])), 'RLP_TOO_FEW_ELEMENTS')
    throwsCode(() => decodeHello(enc([5, 'x', 'eth', 0, id])), 'RLP_UNEXPECTED_TYPE')
    throwsCode(() => decodeHello(enc([5, ['x'], [], 0, id])), 'RLP_UNEXPECTED_TYPE')
    throwsCode(() => decodeHello(enc([5, 'x', [], 0, [id]])), 'RLP_UNEXPECTED_TYPE')
    throwsCode(() => decodeHello(new Uint8Array(0)), 'RLP_INVALID')
  })

  it('rejects a bad identity with INVALID_IDENTITY (geth DiscInvalidIdentity)', () => {
    throwsCode(() => decodeHello(encodeHello({ ...hello, id: id.subarray(1) })), 'INVALID_IDENTITY')
    throwsCode(
      () => decodeHello(encodeHello({ ...hello, id: new Uint8Array(65).fill(1) })),
      'INVALID_IDENTITY',
    )
    throwsCode(() => decodeHello(encodeHello({ ...hello, id: new Uint8Array(64) })), 'INVALID_IDENTITY')
  })

  it('maps Hello failures to what geth sends back', () => {
    const err = (f: () => unknown) => {
      try {
        f()
      } catch (e) {
        return e
      }
      assert.fail('expected an error')
    }
    assert.equal(
      helloFailureReason(err(() => decodeHello(encodeHello({ ...hello, id: new Uint8Array(64) })))),
      7,
    )
    assert.equal(helloFailureReason(err(() => decodeHello(Uint8Array.of(0xc0)))), null)
    assert.equal(helloFailureReason(err(() => assertHelloSize(5000))), null)
    assert.equal(helloFailureReason(new Error('x')), null)
  })

  it('enforces the 2048-byte limit (geth baseProtocolMaxMsgSize)', () => {
    assert.doesNotThrow(() => assertHelloSize(2048))
    throwsCode(() => assertHelloSize(2049), 'MESSAGE_TOO_BIG')
    const big = { ...hello, name: 'x'.repeat(2048) }
    throwsCode(() => decodeHello(encodeHello(big)), 'MESSAGE_TOO_BIG')
    let n = 1900
    while (encodeHello({ ...hello, name: 'x'.repeat(n + 1) }).length <= 2048) n++
    const justFits = { ...hello, name: 'x'.repeat(n) }
    assert.equal(encodeHello(justFits).length, 2048)
    assert.deepEqual(decodeHello(encodeHello(justFits)), justFits)
  })

  const capArb = fc.record(
    { name: fc.string({ minLength: 1, maxLength: 8 }), version: fc.nat({ max: 2 ** 32 }) },
    { noNullPrototype: true },
  )
  const helloArb: fc.Arbitrary<Hello> = fc.record(
    {
      version: fc.nat({ max: 2 ** 48 }),
      name: fc.string({ maxLength: 60 }),
      caps: fc.array(capArb, { maxLength: 6 }),
      listenPort: fc.nat({ max: 65535 }),
      id: fc.uint8Array({ minLength: 64, maxLength: 64 }).filter((b) => b.some((x) => x !== 0)),
    },
    { noNullPrototype: true },
  )

  it('encode∘decode = identity (property)', () => {
    fc.assert(
      fc.property(helloArb, (h) => {
        assert.deepEqual(decodeHello(encodeHello(h)), h)
      }),
      { numRuns: 500 },
    )
  })

  it('random and mutated bytes: decode or DecodeError (property)', () => {
    const check = (b: Uint8Array) => {
      try {
        decodeHello(b)
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e
      }
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2100 }), check), { numRuns: 1000 })
    fc.assert(
      fc.property(helloArb, fc.nat(), fc.nat({ max: 255 }), fc.nat(), (h, at, v, cut) => {
        const b = encodeHello(h)
        const m = b.slice()
        m[at % m.length] = v
        check(m)
        check(b.subarray(0, cut % b.length))
      }),
      { numRuns: 1000 },
    )
  })
})

describe('matchProtocols (geth TestMatchProtocols)', () => {
  const P = (name: string, version: number, length = 0): ProtocolCap => ({ name, version, length })
  const C = (name: string, version: number): Capability => ({ name, version })
  const run = (local: ProtocolCap[], remote: Capability[]) =>
    matchProtocols(local, remote).map((m) => [m.name, m.version, m.offset - BASE_PROTOCOL_LENGTH])

  it('matches the geth table', () => {
    assert.deepEqual(run([P('a', 0)], []), [])
    assert.deepEqual(run([], [C('a', 0)]), [])
    assert.deepEqual(run([P('b', 0)], [C('a', 0)]), [])
    assert.deepEqual(
      run([P('match1', 0), P('match2', 0), P('remote', 0)], [C('local', 0), C('match1', 0), C('match2', 0)]),
      [
        ['match1', 0, 0],
        ['match2', 0, 0],
      ],
    )
    assert.deepEqual(
      run([P('ba', 0), P('bb', 0), P('ab', 0), P('aa', 0)], [C('aa', 0), C('ab', 0), C('bb', 0), C('ba', 0)]),
      [
        ['aa', 0, 0],
        ['ab', 0, 0],
        ['ba', 0, 0],
        ['bb', 0, 0],
      ],
    )
    assert.deepEqual(run([P('', 2)], [C('', 1)]), [])
    assert.deepEqual(run([P('', 2), P('', 3)], [C('', 1), C('', 2)]), [['', 2, 0]])
    assert.deepEqual(run([P('', 2), P('', 3)], [C('', 1), C('', 2), C('', 3), C('', 4)]), [['', 3, 0]])
    assert.deepEqual(run([P('', 2), P('', 3), P('', 1)], [C('', 4), C('', 1), C('', 3), C('', 2)]), [
      ['', 3, 0],
    ])
    assert.deepEqual(
      run([P('', 1, 1), P('', 2, 2), P('', 3, 3), P('a', 0)], [C('', 1), C('', 2), C('', 3), C('a', 0)]),
      [
        ['', 3, 0],
        ['a', 0, 3],
      ],
    )
  })

  it('lays out offsets from 0x10 in name order with the highest shared version', () => {
    const ours = [P('snap', 1, 8), P('eth', 67, 17), P('eth', 68, 17), P('les', 4, 23)]
    const theirs = [C('snap', 1), C('eth', 66), C('eth', 67), C('eth', 68), C('eth', 69), C('bzz', 1)]
    const m = matchProtocols(ours, theirs)
    assert.deepEqual(
      m.map(({ name, version, offset, length }) => ({ name, version, offset, length })),
      [
        { name: 'eth', version: 68, offset: 0x10, length: 17 },
        { name: 'snap', version: 1, offset: 0x21, length: 8 },
      ],
    )
    assert.equal(m[0]!.protocol, ours[2])
    assert.deepEqual(theirs.map(capString), ['snap/1', 'eth/66', 'eth/67', 'eth/68', 'eth/69', 'bzz/1']) // not mutated
    assert.equal(countMatchingProtocols(ours, theirs), 3)
    assert.equal(countMatchingProtocols(ours, [C('bzz', 1)]), 0)
  })

  it('orders names by bytes (Go strings.Compare) and tolerates duplicate caps', () => {
    const ours = [P('B', 1, 1), P('a', 1, 2), P('é', 1, 4)]
    const m = matchProtocols(ours, [C('é', 1), C('a', 1), C('B', 1), C('a', 1)])
    assert.deepEqual(
      m.map((x) => [x.name, x.offset]),
      [
        ['B', 16],
        ['a', 17],
        ['é', 19],
      ],
    )
  })
})
