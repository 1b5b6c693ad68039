// Property tests (fast-check, bounded) for codecs/discv4.ts: encode∘decode is the identity for all six packet
// types; random, re-framed random and mutated datagrams decode or throw DecodeError — nothing else.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { bytesToHex, concatBytes, hexToBytes } from '../../../codecs/bytes.ts'
import {
  DISCV4_HEAD_SIZE,
  type Discv4Packet,
  decodePacket,
  type Endpoint,
  encodePacket,
  encodePacketData,
  endpointIpFromBytes,
  endpointIpToBytes,
  type NeighborNode,
} from '../../../codecs/discv4.ts'
import { DecodeError } from '../../../codecs/errors.ts'
import { type RlpInput, type RlpItem, rlpDecode, rlpEncode } from '../../../codecs/rlp.ts'
import { cryptoBackend } from '../../../crypto/backend.ts'
import { keccak256 } from '../../../crypto/keccak.ts'
import { hasNativeSecp256k1, publicKeyOf, sign } from '../../../crypto/secp256k1.ts'

/** The noble fallback recovers ~40× slower than the native path: fewer cases there keep the file in seconds. */
const runs = (n: number) => (cryptoBackend() === 'noble' || !hasNativeSecp256k1 ? Math.ceil(n / 10) : n)

const key = hexToBytes('b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291')
const senderHex = bytesToHex(publicKeyOf(key))

const ip = fc.oneof(
  fc.constant(''),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map(endpointIpFromBytes),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map(endpointIpFromBytes),
  fc.constantFrom('::', '::1', '127.0.0.1', 'fe80::1', '2001:db8::'),
)
const port = fc.integer({ min: 0, max: 0xffff })
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })
const rec = { noNullPrototype: true } as const
const endpoint: fc.Arbitrary<Endpoint> = fc.record({ ip, udp: port, tcp: port }, rec)
const pubkey = fc.uint8Array({ minLength: 64, maxLength: 64 })
const node: fc.Arbitrary<NeighborNode> = fc.record({ ip, udp: port, tcp: port, pubkey }, rec)
const rlpLeaf = fc.uint8Array({ maxLength: 8 })
const rlpItem: fc.Arbitrary<RlpItem> = fc.oneof(rlpLeaf, fc.array(rlpLeaf, { maxLength: 3 }))
const extra = fc.option(fc.array(rlpItem, { minLength: 1, maxLength: 3 }), { nil: undefined })
const token = fc.uint8Array({ maxLength: 40 })
const record = fc
  .record({
    sig: fc.uint8Array({ minLength: 64, maxLength: 64 }),
    seq: u64,
    ip: fc.uint8Array({ maxLength: 16 }),
  })
  .map(({ sig, seq, ip }) => rlpEncode([sig, seq, 'id', 'v4', 'ip', ip]))

const withExtra = <T extends object>(p: T, x: RlpItem[] | undefined): T => (x ? { ...p, extra: x } : p)

/** Ping/Pong: extra elements only after an enr-seq (otherwise the first extra *is* the enr-seq position). */
const seqAndExtra = fc.oneof(
  fc.constant({ enrSeq: undefined, extra: undefined }),
  fc.record({ enrSeq: u64, extra }),
)
const arbitraries: Record<Discv4Packet['type'], fc.Arbitrary<Discv4Packet>> = {
  ping: fc
    .record({
      version: fc.nat({ max: 2 ** 48 }),
      from: endpoint,
      to: endpoint,
      expiration: u64,
      s: seqAndExtra,
    })
    .map(({ s, ...r }) => {
      const p: Discv4Packet = { type: 'ping', ...r }
      if (s.enrSeq !== undefined) p.enrSeq = s.enrSeq
      return withExtra(p, s.extra)
    }),
  pong: fc.record({ to: endpoint, replyTok: token, expiration: u64, s: seqAndExtra }).map(({ s, ...r }) => {
    const p: Discv4Packet = { type: 'pong', ...r }
    if (s.enrSeq !== undefined) p.enrSeq = s.enrSeq
    return withExtra(p, s.extra)
  }),
  findnode: fc
    .record({ target: pubkey, expiration: u64, x: extra })
    .map(({ x, ...r }) => withExtra({ type: 'findnode', ...r }, x)),
  neighbors: fc
    .record({ nodes: fc.array(node, { maxLength: 12 }), expiration: u64, x: extra })
    .map(({ x, ...r }) => withExtra({ type: 'neighbors', ...r }, x)),
  enrRequest: fc
    .record({ expiration: u64, x: extra })
    .map(({ x, ...r }) => withExtra({ type: 'enrRequest', ...r }, x)),
  enrResponse: fc
    .record({ replyTok: token, record, x: extra })
    .map(({ x, ...r }) => withExtra({ type: 'enrResponse', ...r }, x)),
}
const anyPacket = fc.oneof(...Object.values(arbitraries))

function frame(signed: Uint8Array): Uint8Array {
  const body = concatBytes(sign(keccak256(signed), key), signed)
  return concatBytes(keccak256(body), body)
}

/** decode must either succeed (and then be stable under re-encoding) or throw a DecodeError. */
function decodeOrDecodeError(bytes: Uint8Array): void {
  let d: ReturnType<typeof decodePacket>
  try {
    d = decodePacket(bytes)
  } catch (e) {
    if (!(e instanceof DecodeError)) throw new Error(`non-DecodeError thrown: ${String(e)}`)
    return
  }
  // a decoded packet re-encodes (when small enough) to a packet that decodes to the same thing
  let again: Uint8Array
  try {
    again = encodePacket(key, d.packet).bytes
  } catch (e) {
    if (e instanceof DecodeError && e.code === 'PACKET_TOO_BIG') return
    throw e
  }
  assert.deepEqual(decodePacket(again).packet, d.packet)
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    kind: fc.constant('bigLength' as const),
    at: fc.nat(),
    prefix: fc.constantFrom(0xb9, 0xba, 0xbf, 0xf9, 0xfa, 0xff),
  }),
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

function mutate(b: Uint8Array, m: Mutation): Uint8Array {
  const at = b.length === 0 ? 0 : m.at % b.length
  switch (m.kind) {
    case 'flip': {
      const out = b.slice()
      if (out.length) out[at]! ^= 1 << m.bit
      return out
    }
    case 'truncate':
      return b.subarray(0, at)
    case 'insert':
      return concatBytes(b.subarray(0, at), m.bytes, b.subarray(at))
    case 'bigLength':
      return concatBytes(b.subarray(0, at), Uint8Array.of(m.prefix, 0xff, 0xff, 0xff), b.subarray(at + 1))
  }
}

describe('discv4 codec properties', () => {
  for (const [type, arb] of Object.entries(arbitraries)) {
    it(`encode∘decode = identity for ${type}`, () => {
      fc.assert(
        fc.property(arb, (p) => {
          const { bytes, hash } = encodePacket(key, p)
          assert.ok(bytes.length <= 1280)
          const d = decodePacket(bytes)
          assert.deepEqual(d.packet, p)
          assert.deepEqual(d.hash, hash)
          assert.equal(bytesToHex(d.senderPubkey), senderHex)
          assert.equal(d.rest.length, 0)
        }),
        { numRuns: runs(150) },
      )
    })
  }

  it('the direct RLP writer agrees with the rlp package', () => {
    const ep = (e: Endpoint): RlpInput[] => [endpointIpToBytes(e.ip), e.udp, e.tcp]
    const generic = (p: Discv4Packet): RlpInput[] => {
      switch (p.type) {
        case 'ping':
          return [
            p.version,
            ep(p.from),
            ep(p.to),
            p.expiration,
            ...(p.enrSeq === undefined ? [] : [p.enrSeq]),
          ]
        case 'pong':
          return [ep(p.to), p.replyTok, p.expiration, ...(p.enrSeq === undefined ? [] : [p.enrSeq])]
        case 'findnode':
          return [p.target, p.expiration]
        case 'neighbors':
          return [p.nodes.map((n) => [...ep(n), n.pubkey]), p.expiration]
        case 'enrRequest':
          return [p.expiration]
        case 'enrResponse':
          return [p.replyTok, rlpDecode(p.record) as RlpInput]
      }
    }
    fc.assert(
      fc.property(anyPacket, (p) => {
        const want = rlpEncode([...generic(p), ...((p.extra ?? []) as RlpInput[])])
        assert.equal(bytesToHex(encodePacketData(p).subarray(1)), bytesToHex(want))
      }),
      { numRuns: runs(1000) },
    )
  })

  it('random datagrams: decode or DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), (b) => decodeOrDecodeError(b)),
      { numRuns: runs(1000) },
    )
  })

  it('random data under a valid hash and signature: decode or DecodeError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.uint8Array({ maxLength: 300 }), (t, data) =>
        decodeOrDecodeError(frame(concatBytes(Uint8Array.of(t), data))),
      ),
      { numRuns: runs(1000) },
    )
  })

  it('mutated packets (bit flips, truncations, insertions, oversized lengths), re-signed: decode or DecodeError', () => {
    fc.assert(
      fc.property(anyPacket, fc.array(mutation, { minLength: 1, maxLength: 3 }), (p, ms) => {
        let data = encodePacketData(p)
        for (const m of ms) data = mutate(data, m)
        decodeOrDecodeError(frame(data))
      }),
      { numRuns: runs(1500) },
    )
  })

  it('mutated packets, not re-signed: decode or DecodeError', () => {
    fc.assert(
      fc.property(anyPacket, mutation, (p, m) => {
        const bytes = encodePacket(key, p).bytes
        decodeOrDecodeError(mutate(bytes, m))
        decodeOrDecodeError(mutate(bytes.subarray(0, DISCV4_HEAD_SIZE + 1), m))
      }),
      { numRuns: runs(500) },
    )
  })
})
