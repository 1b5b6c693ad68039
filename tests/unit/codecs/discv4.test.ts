// Unit tests for codecs/discv4.ts: round trips of all six packet types, framing errors, size limits,
// EIP-868 enr-seq, geth's expiration rule, IP conversion, Neighbors splitting (geth MaxNeighbors).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bytesToHex, concatBytes, hexToBytes } from '../../../codecs/bytes.ts'
import {
  DISCV4_HEAD_SIZE,
  DISCV4_MAX_NEIGHBORS,
  DISCV4_MAX_PACKET_SIZE,
  DISCV4_PACKET,
  DISCV4_PACKET_NAME,
  type Discv4Packet,
  decodePacket,
  encodePacket,
  encodePacketData,
  endpointIpFromBytes,
  endpointIpToBytes,
  expirationFrom,
  isExpired,
  type NeighborNode,
  packetName,
  splitNeighbors,
} from '../../../codecs/discv4.ts'
import { DecodeError } from '../../../codecs/errors.ts'
import { type RlpInput, rlpEncode } from '../../../codecs/rlp.ts'
import { keccak256 } from '../../../crypto/keccak.ts'
import { publicKeyOf, sign } from '../../../crypto/secp256k1.ts'

const key = hexToBytes('b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291')
const pub = publicKeyOf(key)
const exp = 1136239445n
const pk = (fill: number) => new Uint8Array(64).fill(fill)

/** Frame arbitrary signed data (type byte + anything) with a valid signature and hash. */
function frame(signed: Uint8Array): Uint8Array {
  const sig = sign(keccak256(signed), key)
  const body = concatBytes(sig, signed)
  return concatBytes(keccak256(body), body)
}

/** ENRResponse data: [replyTok, record] with the record spliced in raw. */
function encodeRespData(record: Uint8Array): Uint8Array {
  const tok = rlpEncode(new Uint8Array(32))
  const payload = tok.length + record.length
  return concatBytes(Uint8Array.of(0xf8, payload), tok, record)
}

function throwsCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => e instanceof DecodeError && e.code === code)
}

const samples: Discv4Packet[] = [
  {
    type: 'ping',
    version: 4,
    from: { ip: '10.0.0.1', udp: 30303, tcp: 30303 },
    to: { ip: '2001:db8::1', udp: 30301, tcp: 0 },
    expiration: exp,
    enrSeq: 7n,
  },
  {
    type: 'ping',
    version: 4,
    from: { ip: '', udp: 0, tcp: 0 },
    to: { ip: '1.2.3.4', udp: 1, tcp: 2 },
    expiration: 0n,
  },
  {
    type: 'pong',
    to: { ip: '127.0.0.1', udp: 30303, tcp: 30303 },
    replyTok: new Uint8Array(32).fill(9),
    expiration: exp,
    enrSeq: (1n << 64n) - 1n,
  },
  { type: 'pong', to: { ip: '::', udp: 65535, tcp: 65535 }, replyTok: new Uint8Array(0), expiration: exp },
  { type: 'findnode', target: pk(3), expiration: exp, extra: [Uint8Array.of(1), [Uint8Array.of(2)]] },
  {
    type: 'neighbors',
    nodes: [
      { ip: '99.33.22.55', udp: 4444, tcp: 4445, pubkey: pk(1) },
      { ip: 'fe80::1', udp: 1, tcp: 1, pubkey: pk(2) },
    ],
    expiration: exp,
  },
  { type: 'neighbors', nodes: [], expiration: exp },
  { type: 'enrRequest', expiration: exp },
  {
    type: 'enrResponse',
    replyTok: new Uint8Array(32).fill(5),
    record: rlpEncode([new Uint8Array(64).fill(1), 1, 'id', 'v4']),
  },
]

describe('discv4 codec', () => {
  it('has geth packet type codes and a reverse table', () => {
    assert.deepEqual(DISCV4_PACKET, {
      ping: 1,
      pong: 2,
      findnode: 3,
      neighbors: 4,
      enrRequest: 5,
      enrResponse: 6,
    })
    for (const [name, code] of Object.entries(DISCV4_PACKET)) assert.equal(DISCV4_PACKET_NAME[code], name)
  })

  for (const p of samples) {
    it(`round-trips ${packetName(p)} ${p.type === 'ping' || p.type === 'pong' ? `enrSeq=${p.enrSeq}` : ''}`, () => {
      const { bytes, hash } = encodePacket(key, p)
      assert.equal(bytesToHex(hash), bytesToHex(bytes.subarray(0, 32)))
      assert.equal(bytes[DISCV4_HEAD_SIZE], DISCV4_PACKET[p.type])
      const d = decodePacket(bytes)
      assert.deepEqual(d.packet, p)
      assert.equal(bytesToHex(d.hash), bytesToHex(hash))
      assert.equal(bytesToHex(d.senderPubkey), bytesToHex(pub))
      assert.equal(bytesToHex(d.senderId), bytesToHex(keccak256(pub)))
      assert.equal(d.rest.length, 0)
    })
  }

  it('signs keccak256(type || data) and hashes sig || type || data', () => {
    const p = samples[0]!
    const { bytes } = encodePacket(key, p)
    assert.deepEqual(bytes.subarray(DISCV4_HEAD_SIZE), encodePacketData(p))
    // RFC 6979 signatures are deterministic: same key, same data → same packet
    assert.deepEqual(encodePacket(key, p).bytes, bytes)
    assert.deepEqual(bytes.subarray(32, DISCV4_HEAD_SIZE), sign(keccak256(encodePacketData(p)), key))
  })

  it('omits enrSeq when undefined and writes it when zero', () => {
    const base = {
      type: 'pong',
      to: { ip: '1.2.3.4', udp: 1, tcp: 1 },
      replyTok: new Uint8Array(0),
      expiration: 5n,
    } as const
    const want = rlpEncode([[endpointIpToBytes('1.2.3.4'), 1, 1], new Uint8Array(0), 5])
    assert.equal(bytesToHex(encodePacketData(base)), `02${bytesToHex(want)}`)
    const zero = decodePacket(encodePacket(key, { ...base, enrSeq: 0n }).bytes).packet
    assert.equal(zero.type === 'pong' && zero.enrSeq, 0n)
  })

  it('accepts trailing data and reports it as rest; extra elements go to extra', () => {
    const data = concatBytes(
      Uint8Array.of(DISCV4_PACKET.enrRequest),
      rlpEncode([5, 6, [7]]),
      Uint8Array.of(0xde, 0xad),
    )
    const d = decodePacket(frame(data))
    assert.equal(d.packet.type, 'enrRequest')
    assert.deepEqual(d.packet.extra, [Uint8Array.of(6), [Uint8Array.of(7)]])
    assert.equal(bytesToHex(d.rest), 'dead')
  })

  it('rejects too-small packets (< 98 bytes) with PACKET_TOO_SMALL', () => {
    throwsCode(() => decodePacket(new Uint8Array(0)), 'PACKET_TOO_SMALL')
    throwsCode(() => decodePacket(new Uint8Array(DISCV4_HEAD_SIZE)), 'PACKET_TOO_SMALL')
    // 98 bytes: passes the size check, fails on the hash
    throwsCode(() => decodePacket(new Uint8Array(DISCV4_HEAD_SIZE + 1)), 'BAD_HASH')
  })

  it('rejects a wrong hash (BAD_HASH) and a bad signature (BAD_SIGNATURE)', () => {
    const { bytes } = encodePacket(key, samples[7]!)
    const flipped = bytes.slice()
    flipped[0]! ^= 1
    throwsCode(() => decodePacket(flipped), 'BAD_HASH')
    const bad = bytes.slice(32)
    bad[64] = 4 // recovery id out of range
    throwsCode(() => decodePacket(concatBytes(keccak256(bad), bad)), 'BAD_SIGNATURE')
    const zeroSig = concatBytes(new Uint8Array(65), bytes.subarray(DISCV4_HEAD_SIZE))
    throwsCode(() => decodePacket(concatBytes(keccak256(zeroSig), zeroSig)), 'BAD_SIGNATURE')
  })

  it('rejects unknown packet types with UNKNOWN_PACKET_TYPE (and reports the sender)', () => {
    for (const t of [0, 7, 0xff]) {
      assert.throws(
        () => decodePacket(frame(concatBytes(Uint8Array.of(t), rlpEncode([exp])))),
        (e: unknown) =>
          e instanceof DecodeError &&
          e.code === 'UNKNOWN_PACKET_TYPE' &&
          bytesToHex(e.details.senderPubkey as Uint8Array) === bytesToHex(pub),
      )
    }
  })

  it('rejects malformed packet data the way geth does', () => {
    const t = (type: keyof typeof DISCV4_PACKET, items: RlpInput) =>
      frame(concatBytes(Uint8Array.of(DISCV4_PACKET[type]), rlpEncode(items)))
    const ep = [endpointIpToBytes('1.2.3.4'), 1, 2]
    throwsCode(() => decodePacket(t('ping', [4, ep, ep])), 'RLP_TOO_FEW_ELEMENTS')
    throwsCode(() => decodePacket(t('ping', [4, [...ep, 9], ep, 5])), 'BAD_MESSAGE') // Endpoint has no tail
    throwsCode(() => decodePacket(t('ping', [4, [ep[0]!, 70000, 1], ep, 5])), 'INT_TOO_LARGE') // uint16
    throwsCode(() => decodePacket(t('ping', [4, ep, ep, new Uint8Array(9).fill(1)])), 'INT_TOO_LARGE') // uint64
    throwsCode(() => decodePacket(t('ping', [4, ep, ep, Uint8Array.of(0, 1)])), 'INT_LEADING_ZERO')
    throwsCode(() => decodePacket(t('ping', [4, ep, ep, 5, [1]])), 'RLP_UNEXPECTED_TYPE') // enr-seq a list
    throwsCode(() => decodePacket(t('findnode', [pk(1).subarray(1), 5])), 'BAD_LENGTH')
    throwsCode(() => decodePacket(t('neighbors', [[[...ep]], 5])), 'RLP_TOO_FEW_ELEMENTS')
    throwsCode(() => decodePacket(t('neighbors', [[[...ep, pk(1), 1]], 5])), 'BAD_MESSAGE')
    throwsCode(() => decodePacket(t('neighbors', [5, 5])), 'RLP_UNEXPECTED_TYPE')
    throwsCode(() => decodePacket(t('enrRequest', [])), 'RLP_TOO_FEW_ELEMENTS')
    throwsCode(
      () => decodePacket(t('enrResponse', [new Uint8Array(32), Uint8Array.of(1)])),
      'RLP_UNEXPECTED_TYPE',
    )
    throwsCode(
      () =>
        decodePacket(t('enrResponse', [new Uint8Array(32), [new Uint8Array(64), 1, new Uint8Array(300)]])),
      'ENR_TOO_BIG',
    )
    // not a list at all / non-canonical RLP
    throwsCode(() => decodePacket(frame(Uint8Array.of(DISCV4_PACKET.ping, 0x05))), 'RLP_UNEXPECTED_TYPE')
    assert.throws(
      () => decodePacket(frame(Uint8Array.of(DISCV4_PACKET.ping, 0x81, 0x05))),
      (e: unknown) => e instanceof DecodeError && e.code.startsWith('RLP_'),
    )
    throwsCode(() => decodePacket(frame(Uint8Array.of(DISCV4_PACKET.ping))), 'RLP_INVALID')
  })

  it('ENRResponse: the record is structure-checked like geth (enr.Record), its signature is not', () => {
    const resp = (record: Uint8Array) =>
      frame(concatBytes(Uint8Array.of(DISCV4_PACKET.enrResponse), encodeRespData(record)))
    const badSig = rlpEncode([new Uint8Array(64), 1, 'id', 'v4', 'ip', Uint8Array.of(1, 2, 3, 4)])
    const d = decodePacket(resp(badSig))
    assert.equal(d.packet.type === 'enrResponse' && bytesToHex(d.packet.record), bytesToHex(badSig))
    throwsCode(
      () => decodePacket(resp(rlpEncode([new Uint8Array(64), 1, 'ip', Uint8Array.of(1), 'id', 'v4']))),
      'ENR_UNSORTED_KEYS',
    )
    throwsCode(() => decodePacket(resp(rlpEncode([new Uint8Array(64), 1, 'id']))), 'BAD_ENR')
    throwsCode(() => decodePacket(resp(rlpEncode([new Uint8Array(64)]))), 'BAD_ENR')
  })

  it('decodes IPs of odd length as "" (geth keeps the packet; the address is invalid)', () => {
    const d = decodePacket(
      frame(concatBytes(Uint8Array.of(1), rlpEncode([4, [Uint8Array.of(1, 2, 3), 1, 2], ['', 3, 4], 5]))),
    )
    assert.equal(d.packet.type === 'ping' && d.packet.from.ip, '')
    assert.equal(d.packet.type === 'ping' && d.packet.to.ip, '')
  })

  it('decodes IPv4-mapped IPv6 addresses as IPv4 and encodes them as 4 bytes (geth To4 / NewEndpoint)', () => {
    const mapped = hexToBytes('00000000000000000000ffff7f000001')
    const d = decodePacket(
      frame(concatBytes(Uint8Array.of(2), rlpEncode([[mapped, 1, 2], new Uint8Array(32), 5]))),
    )
    assert.equal(d.packet.type === 'pong' && d.packet.to.ip, '127.0.0.1')
    assert.equal(bytesToHex(endpointIpToBytes('::ffff:127.0.0.1')), '7f000001')
    assert.equal(bytesToHex(endpointIpToBytes('::ffff:7f00:1')), '7f000001')
  })

  it('refuses to encode packets over 1280 bytes but decodes bigger datagrams', () => {
    const node: NeighborNode = {
      ip: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      udp: 65535,
      tcp: 65535,
      pubkey: pk(0xff),
    }
    const big: Discv4Packet = {
      type: 'neighbors',
      nodes: new Array(14).fill(node),
      expiration: (1n << 64n) - 1n,
    }
    assert.throws(
      () => encodePacket(key, big),
      (e: unknown) => e instanceof DecodeError && e.code === 'PACKET_TOO_BIG' && e.details.max === 1280,
    )
    const bytes = frame(encodePacketData(big))
    assert.ok(bytes.length > DISCV4_MAX_PACKET_SIZE)
    const d = decodePacket(bytes)
    assert.equal(d.packet.type === 'neighbors' && d.packet.nodes.length, 14)
  })

  it('MaxNeighbors = 12 follows from the size limit as geth computes it', () => {
    const node: NeighborNode = {
      ip: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      udp: 65535,
      tcp: 65535,
      pubkey: pk(0xff),
    }
    const size = (n: number) =>
      DISCV4_HEAD_SIZE +
      encodePacketData({ type: 'neighbors', nodes: new Array(n).fill(node), expiration: (1n << 64n) - 1n })
        .length
    // geth: the first n with headSize + size + 1 >= 1280 is maxNeighbors (size = rlp size, +1 = type byte)
    let n = 0
    while (size(n + 1) < DISCV4_MAX_PACKET_SIZE) n++
    assert.equal(n + 1, DISCV4_MAX_NEIGHBORS + 1)
    assert.equal(n, DISCV4_MAX_NEIGHBORS)
  })

  it('splitNeighbors: ≤ 12 per packet, always one packet, every packet encodes under 1280 bytes', () => {
    const node = (i: number): NeighborNode => ({
      ip: i % 2 ? 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' : '255.255.255.255',
      udp: 65535,
      tcp: 65535,
      pubkey: pk(i),
    })
    const max = (1n << 64n) - 1n
    for (const [count, want] of [
      [0, [0]],
      [1, [1]],
      [12, [12]],
      [13, [12, 1]],
      [16, [12, 4]],
      [24, [12, 12]],
      [25, [12, 12, 1]],
    ] as const) {
      const nodes = Array.from({ length: count }, (_, i) => node(i))
      const packets = splitNeighbors(nodes, max)
      assert.deepEqual(
        packets.map((p) => p.nodes.length),
        want,
        `count ${count}`,
      )
      assert.deepEqual(
        packets.flatMap((p) => p.nodes),
        nodes,
      )
      for (const p of packets) {
        assert.equal(p.expiration, max)
        assert.ok(encodePacket(key, p).bytes.length < DISCV4_MAX_PACKET_SIZE)
      }
    }
    // a larger `max` is still capped by the 1280-byte limit (12 max-size nodes fit, 13 do not)
    const big = Array.from({ length: 16 }, () => node(1))
    const bySize = splitNeighbors(big, max, 100)
    assert.deepEqual(
      bySize.map((p) => p.nodes.length),
      [12, 4],
    )
    for (const p of bySize) assert.ok(encodePacket(key, p).bytes.length <= DISCV4_MAX_PACKET_SIZE)
    assert.deepEqual(
      splitNeighbors([node(1), node(2), node(3)], 1n, 2).map((p) => p.nodes.length),
      [2, 1],
    )
  })

  it("isExpired follows geth's rule: past is expired, ≥ 2^63 is expired", () => {
    const now = 1_700_000_000
    assert.equal(isExpired(BigInt(now - 1), now), true)
    assert.equal(isExpired(BigInt(now), now), false)
    assert.equal(isExpired(BigInt(now), now + 0.001), true) // geth compares with nanosecond time
    assert.equal(isExpired(BigInt(now + 20), now), false)
    assert.equal(isExpired(0n, now), true)
    assert.equal(isExpired((1n << 63n) - 62135596801n, now), false)
    assert.equal(isExpired((1n << 63n) - 62135596800n, now), true) // Go time.Unix int64 overflow
    assert.equal(isExpired((1n << 63n) - 1n, now), true)
    assert.equal(isExpired(1n << 63n, now), true)
    assert.equal(isExpired((1n << 64n) - 1n, now), true)
    assert.equal(expirationFrom(now + 0.9), BigInt(now + 20))
    assert.equal(expirationFrom(now, 60), BigInt(now + 60))
  })

  it('encoding rejects out-of-range fields and bad IP strings', () => {
    const ping = samples[0] as Extract<Discv4Packet, { type: 'ping' }>
    assert.throws(() => encodePacket(key, { ...ping, expiration: 1n << 64n }), RangeError)
    assert.throws(() => encodePacket(key, { ...ping, expiration: -1n }), RangeError)
    assert.throws(
      () => encodePacket(key, { ...ping, from: { ip: '1.2.3.4', udp: 65536, tcp: 0 } }),
      RangeError,
    )
    assert.throws(
      () => encodePacket(key, { type: 'findnode', target: pk(1).subarray(2), expiration: 1n }),
      RangeError,
    )
    for (const bad of [
      '1.2.3',
      '1.2.3.256',
      '01.2.3.4',
      'localhost',
      '1::2::3',
      ':1::',
      '1:2:3:4:5:6:7:8:9',
      '1.2.3.4::',
    ])
      throwsCode(() => endpointIpToBytes(bad), 'BAD_IP')
  })

  it('formats IPs like Go netip (RFC 5952) and parses them back', () => {
    const cases: [string, string][] = [
      ['7f000001', '127.0.0.1'],
      ['00000000000000000000000000000001', '::1'],
      ['00000000000000000000000000000000', '::'],
      ['20010db8000000000000000000000001', '2001:db8::1'],
      ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
      ['20010db8000100000001000000000001', '2001:db8:1:0:1::1'],
      ['20010db885a308d313198a2e03707348', '2001:db8:85a3:8d3:1319:8a2e:370:7348'],
      ['fe800000000000000000000000000000', 'fe80::'],
      ['00010000000000010000000000000001', '1:0:0:1::1'],
      ['00010000000000010000000000010001', '1::1:0:0:1:1'], // tie: the first run is compressed
      ['00010000000100000000000100000001', '1:0:1::1:0:1'],
      ['00010000000100000001000000010000', '1:0:1:0:1:0:1:0'], // single zero groups stay
      ['00000000000000000000ffffc0a80001', '192.168.0.1'],
    ]
    for (const [h, s] of cases) {
      assert.equal(endpointIpFromBytes(hexToBytes(h)), s, h)
      const back = bytesToHex(endpointIpToBytes(s))
      assert.equal(back, h.startsWith('00000000000000000000ffff') ? h.slice(24) : h)
    }
    assert.equal(endpointIpFromBytes(new Uint8Array(5)), '')
    assert.equal(endpointIpFromBytes(new Uint8Array(0)), '')
    assert.equal(bytesToHex(endpointIpToBytes('::1.2.3.4')), '00000000000000000000000001020304')
    assert.equal(bytesToHex(endpointIpToBytes('1:2:3:4:5:6:7::')), '00010002000300040005000600070000')
  })
})
