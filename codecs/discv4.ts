// Discovery v4 wire codec (devp2p discv4.md; behaviour of geth p2p/discover/v4wire): the six packet types as a
// discriminated union on `type`, encodePacket (sign + hash) / decodePacket (hash check, sender recovery,
// EIP-8 forward compatibility, EIP-868 optional enr-seq), geth's expiration rule and Neighbors splitting.
//
// Public API (stable):
//   DISCV4_PACKET                        name → packet-type byte (`as const`), DISCV4_PACKET_NAME byte → name
//   type Discv4Packet = PingPacket | PongPacket | FindnodePacket | NeighborsPacket | EnrRequestPacket | EnrResponsePacket
//   encodePacket(privKey, packet)        → { bytes, hash }; throws DecodeError PACKET_TOO_BIG (> 1280) / BAD_IP
//   decodePacket(bytes)                  → { packet, hash, senderPubkey, senderId, rest }; throws DecodeError
//   isExpired(expiration, nowSeconds)    geth's rule, time as a parameter (expiration ≥ 2^63 is expired)
//   expirationFrom(nowSeconds, ttl?)     now + 20 s (geth `expiration`) as the uint64 bigint to put in packets
//   splitNeighbors(nodes, expiration)    → NeighborsPacket[] of ≤ 12 nodes each (always ≥ 1 packet, geth handleFindnode)
//   endpointIpToBytes(ip) / endpointIpFromBytes(bytes)   endpoint IPs (4 or 16 bytes; IPv4-mapped → IPv4 as geth)
//   encodePacketData(packet) / decodePacketData(type, data)   the unsigned part (type || rlp), for tests/tools
//   packetName(packet)                   'PING/v4' … (geth Name()) for logs
//   constants: DISCV4_MAX_PACKET_SIZE 1280, DISCV4_HEAD_SIZE 97, DISCV4_MAX_NEIGHBORS 12,
//              DISCV4_EXPIRATION_SECONDS 20, DISCV4_PING_VERSION 4
//
// Decisions (geth is the reference):
// - `extra` on a packet holds the additional list elements (geth `Rest`, `rlp:"tail"`); they are re-encoded
//   when present. `rest` in the decode result is the data *after* the packet's RLP list (ignored, EIP-8).
// - EIP-868 `enrSeq` is geth's `rlp:"optional"` uint64: when the list has an element in that position it must
//   be an unsigned integer of ≤ 8 bytes, otherwise the packet is rejected (DecodeError RLP_UNEXPECTED_TYPE).
//   So two EIP-8 vectors (ping v555, pong with a list in the enr-seq position) are rejected exactly as geth
//   rejects them since commit 3e6f46caec; hash and sender are still reported in the error's details.
//   Encoding writes `enrSeq` whenever it is defined (geth omits a zero value; a decoder accepts both).
// - Endpoint / node IPs of a length other than 4 or 16 bytes decode as '' (geth keeps the raw net.IP and later
//   treats it as an invalid address: IPToAddr → invalid, CheckRelayIP → reject); the packet itself is accepted.
// - replyTok is any byte string (geth []byte). Ports are uint16, expiration / enrSeq uint64 (bigint),
//   ping version geth `uint` (read up to 8 bytes into a number; precision is lost above 2^53, geth ignores it).
// - Decoding accepts datagrams larger than 1280 bytes (be liberal); encoding refuses them.
// - ENRResponse `record` is the raw RLP of the record. Like geth (enr.Record decoding inside the packet) it must
//   pass codecs/enr.ts decodeEnr without signature check (≤ 300 bytes, k/v pairs, sorted unique keys); the
//   caller verifies the signature with decodeEnr(record) (geth enode.New in RequestENR).
// - Decoded byte fields (pubkeys, target, replyTok, record, hash) are copies; `rest` and `extra` are views.
import { keccak256 } from '../crypto/keccak.ts'
import { recoverPublicKey, sign } from '../crypto/secp256k1.ts'
import { decodeEnr, formatIp, parseIp } from './enr.ts'
import { DecodeError } from './errors.ts'
import type { NodeId } from './node.ts'
import {
  asBigUint,
  asBytes,
  asFixedBytes,
  asList,
  asUint,
  type RlpItem,
  rlpDecodePrefix,
  rlpDecodeRawList,
} from './rlp.ts'

/** Packet-type bytes (geth v4wire PingPacket … ENRResponsePacket; zero is reserved). */
export const DISCV4_PACKET = {
  ping: 0x01,
  pong: 0x02,
  findnode: 0x03,
  neighbors: 0x04,
  enrRequest: 0x05,
  enrResponse: 0x06,
} as const
export type Discv4PacketType = keyof typeof DISCV4_PACKET
export const DISCV4_PACKET_NAME: Readonly<Record<number, Discv4PacketType>> = Object.fromEntries(
  Object.entries(DISCV4_PACKET).map(([k, v]) => [v, k as Discv4PacketType]),
)

/** Max discovery packet size (geth p2p/discover/v4_udp.go maxPacketSize). */
export const DISCV4_MAX_PACKET_SIZE = 1280
/** keccak256 hash in front of every packet (geth v4wire macSize). */
export const DISCV4_HASH_SIZE = 32
/** r||s||v (geth crypto.SignatureLength). */
export const DISCV4_SIG_SIZE = 65
/** hash + signature (geth v4wire headSize); a packet is at least this plus the type byte. */
export const DISCV4_HEAD_SIZE = DISCV4_HASH_SIZE + DISCV4_SIG_SIZE
/** Max nodes in one Neighbors packet (geth v4wire MaxNeighbors, derived from the 1280-byte limit). */
export const DISCV4_MAX_NEIGHBORS = 12
/** Packet lifetime in seconds (geth p2p/discover/v4_udp.go expiration = 20 s). */
export const DISCV4_EXPIRATION_SECONDS = 20
/** Ping version geth sends (geth makePing Version: 4). */
export const DISCV4_PING_VERSION = 4

/** Go time.Unix: int64(ts) + unixToInternal overflows from here on (and int64(ts) < 0 from 2^63). */
const GO_EXPIRED_FROM = (1n << 63n) - 62135596800n
const U64_MAX = (1n << 64n) - 1n

export interface Endpoint {
  /** dotted IPv4 or RFC 5952 IPv6; '' when the wire bytes were not 4 or 16 long (geth: invalid address) */
  ip: string
  udp: number
  tcp: number
}

export interface NeighborNode extends Endpoint {
  /** 64-byte X||Y public key */
  pubkey: Uint8Array
}

interface PacketBase {
  /** additional list elements (geth `Rest`, EIP-8): ignored by the protocol, kept for re-encoding */
  extra?: RlpItem[]
}

export interface PingPacket extends PacketBase {
  type: 'ping'
  version: number
  from: Endpoint
  to: Endpoint
  expiration: bigint
  /** EIP-868 sequence number of the sender's record */
  enrSeq?: bigint
}

export interface PongPacket extends PacketBase {
  type: 'pong'
  to: Endpoint
  /** hash of the ping packet this answers */
  replyTok: Uint8Array
  expiration: bigint
  enrSeq?: bigint
}

export interface FindnodePacket extends PacketBase {
  type: 'findnode'
  /** 64-byte public key whose neighbourhood is asked for */
  target: Uint8Array
  expiration: bigint
}

export interface NeighborsPacket extends PacketBase {
  type: 'neighbors'
  nodes: NeighborNode[]
  expiration: bigint
}

export interface EnrRequestPacket extends PacketBase {
  type: 'enrRequest'
  expiration: bigint
}

export interface EnrResponsePacket extends PacketBase {
  type: 'enrResponse'
  /** hash of the ENRRequest packet this answers */
  replyTok: Uint8Array
  /** the ENR as raw RLP bytes (an RLP list of ≤ 300 bytes) */
  record: Uint8Array
}

export type Discv4Packet =
  | PingPacket
  | PongPacket
  | FindnodePacket
  | NeighborsPacket
  | EnrRequestPacket
  | EnrResponsePacket

export interface EncodedPacket {
  /** the whole UDP payload: hash || signature || type || rlp(data) */
  bytes: Uint8Array
  /** keccak256(signature || type || data) — the first 32 bytes; pongs and ENR responses echo it */
  hash: Uint8Array
}

export interface DecodedPacket {
  packet: Discv4Packet
  hash: Uint8Array
  /** 64-byte X||Y public key recovered from the signature */
  senderPubkey: Uint8Array
  /** keccak256(senderPubkey) */
  senderId: NodeId
  /** bytes after the packet's RLP list (EIP-8: ignored) */
  rest: Uint8Array
}

// ---------------------------------------------------------------------------------------------------------
// IP addresses

/** '' → empty; IPv4 → 4 bytes; IPv6 → 16 bytes, except IPv4-mapped IPv6 → 4 bytes (geth NewEndpoint). */
export function endpointIpToBytes(ip: string): Uint8Array {
  if (ip === '') return new Uint8Array(0)
  const b = parseIp(ip)
  if (!b) throw new DecodeError('BAD_IP', `not an IP address: ${JSON.stringify(ip)}`)
  return b.length === 16 && isV4Mapped(b) ? b.slice(12) : b
}

/** 4 bytes → dotted IPv4; 16 bytes → IPv6 (IPv4-mapped → dotted IPv4, geth IPToAddr/To4); other → ''. */
export function endpointIpFromBytes(b: Uint8Array): string {
  return b.length === 4 || b.length === 16 ? formatIp(b) : ''
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false
  return b[10] === 0xff && b[11] === 0xff
}

// ---------------------------------------------------------------------------------------------------------
// Expiration (geth v4wire.Expired, with the clock as a parameter)

/**
 * geth: `time.Unix(int64(ts), 0).Before(time.Now())`. A uint64 ≥ 2^63 becomes a negative int64, i.e. a time
 * in the distant past, so it is expired. Go's time.Unix also adds 62135596800 s (year 1 → 1970) to an int64,
 * which wraps for ts ≥ 2^63 − 62135596800, so those are expired too. `nowSeconds` may be fractional
 * (Date.now() / 1000): ts == floor(now) is expired as soon as now has a fractional part, as in Go.
 */
export function isExpired(expiration: bigint, nowSeconds: number): boolean {
  if (expiration >= GO_EXPIRED_FROM || expiration < 0n) return true
  return Number(expiration) < nowSeconds
}

/** The expiration geth puts in packets it sends: floor(now) + 20 s (geth `time.Now().Add(expiration).Unix()`). */
export function expirationFrom(nowSeconds: number, ttlSeconds = DISCV4_EXPIRATION_SECONDS): bigint {
  return BigInt(Math.floor(nowSeconds + ttlSeconds))
}

// ---------------------------------------------------------------------------------------------------------
// A small direct RLP writer for the packet data (the generic rlpEncode goes through BigInt and hex for every
// integer ≥ 256, which made Neighbors encoding cost more than its signature).

/** Already-encoded RLP spliced in as it is (the ENR record). */
class RawRlp {
  constructor(readonly bytes: Uint8Array) {}
}
type Enc = Uint8Array | number | bigint | RawRlp | Enc[]

function uintLen(n: number | bigint): number {
  let len = 0
  if (typeof n === 'number') {
    for (let x = n; x > 0; x = Math.floor(x / 256)) len++
  } else {
    for (let x = n; x > 0n; x >>= 8n) len++
  }
  return len
}

const headLen = (size: number): number => (size < 56 ? 1 : 1 + uintLen(size))

/** Encoded size of an item; list payload sizes are pushed in pre-order for the write pass. */
function encSize(e: Enc, lists: number[]): number {
  if (e instanceof Uint8Array) return e.length === 1 && e[0]! < 0x80 ? 1 : headLen(e.length) + e.length
  if (e instanceof RawRlp) return e.bytes.length
  if (Array.isArray(e)) {
    const slot = lists.length
    lists.push(0)
    let payload = 0
    for (const x of e) payload += encSize(x, lists)
    lists[slot] = payload
    return headLen(payload) + payload
  }
  if (e === 0 || e === 0n) return 1
  const n = uintLen(e)
  return n === 1 && Number(e) < 0x80 ? 1 : 1 + n
}

function writeHead(out: Uint8Array, o: number, size: number, base: number): number {
  if (size < 56) {
    out[o] = base + size
    return o + 1
  }
  const n = uintLen(size)
  out[o] = base + 55 + n
  for (let i = n; i > 0; i--, size = Math.floor(size / 256)) out[o + i] = size & 0xff
  return o + 1 + n
}

function encWrite(e: Enc, out: Uint8Array, o: number, lists: number[], li: { i: number }): number {
  if (e instanceof Uint8Array) {
    if (e.length === 1 && e[0]! < 0x80) {
      out[o] = e[0]!
      return o + 1
    }
    o = writeHead(out, o, e.length, 0x80)
    out.set(e, o)
    return o + e.length
  }
  if (e instanceof RawRlp) {
    out.set(e.bytes, o)
    return o + e.bytes.length
  }
  if (Array.isArray(e)) {
    o = writeHead(out, o, lists[li.i++]!, 0xc0)
    for (const x of e) o = encWrite(x, out, o, lists, li)
    return o
  }
  if (e === 0 || e === 0n) {
    out[o] = 0x80
    return o + 1
  }
  const n = uintLen(e)
  if (n === 1 && Number(e) < 0x80) {
    out[o] = Number(e)
    return o + 1
  }
  out[o] = 0x80 + n
  if (typeof e === 'number') {
    for (let i = n, x = e; i > 0; i--, x = Math.floor(x / 256)) out[o + i] = x % 256
  } else {
    for (let i = n, x = e; i > 0; i--, x >>= 8n) out[o + i] = Number(x & 0xffn)
  }
  return o + 1 + n
}

/** prefix byte(s) || rlp(item) in one allocation. */
function encodeWithPrefix(prefix: number | null, item: Enc): Uint8Array {
  const lists: number[] = []
  const size = encSize(item, lists)
  const p = prefix === null ? 0 : 1
  const out = new Uint8Array(p + size)
  if (prefix !== null) out[0] = prefix
  encWrite(item, out, p, lists, { i: 0 })
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

function checkU64(n: bigint, what: string): bigint {
  if (n < 0n || n > U64_MAX) throw new RangeError(`${what}: not a uint64: ${n}`)
  return n
}

function checkPort(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`${what}: not a uint16: ${n}`)
  return n
}

function endpointItem(e: Endpoint, what: string): Enc[] {
  return [endpointIpToBytes(e.ip), checkPort(e.udp, `${what}.udp`), checkPort(e.tcp, `${what}.tcp`)]
}

function checkLen(b: Uint8Array, len: number, what: string): Uint8Array {
  if (b.length !== len) throw new RangeError(`${what}: expected ${len} bytes, got ${b.length}`)
  return b
}

/** The list items of a packet's data (without the type byte). */
function packetItems(p: Discv4Packet): Enc[] {
  let items: Enc[]
  switch (p.type) {
    case 'ping':
      items = [
        p.version,
        endpointItem(p.from, 'from'),
        endpointItem(p.to, 'to'),
        checkU64(p.expiration, 'expiration'),
      ]
      if (p.enrSeq !== undefined) items.push(checkU64(p.enrSeq, 'enrSeq'))
      break
    case 'pong':
      items = [endpointItem(p.to, 'to'), p.replyTok, checkU64(p.expiration, 'expiration')]
      if (p.enrSeq !== undefined) items.push(checkU64(p.enrSeq, 'enrSeq'))
      break
    case 'findnode':
      items = [checkLen(p.target, 64, 'target'), checkU64(p.expiration, 'expiration')]
      break
    case 'neighbors':
      items = [
        p.nodes.map((n, i) => [
          ...endpointItem(n, `nodes[${i}]`),
          checkLen(n.pubkey, 64, `nodes[${i}].pubkey`),
        ]),
        checkU64(p.expiration, 'expiration'),
      ]
      break
    case 'enrRequest':
      items = [checkU64(p.expiration, 'expiration')]
      break
    case 'enrResponse':
      items = [p.replyTok, rawRecord(p.record)]
      break
    default:
      throw new RangeError(`unknown packet type ${(p as { type: unknown }).type}`)
  }
  if (p.extra) for (const x of p.extra) items.push(x)
  return items
}

/** The record's RLP spliced in as it is; it must be one RLP list (geth enr.Record). */
function rawRecord(raw: Uint8Array): RawRlp {
  const { item, rest } = rlpDecodePrefix(raw)
  if (rest.length !== 0 || !Array.isArray(item)) throw new RangeError('record: expected one RLP list')
  return new RawRlp(raw)
}

/** type || rlp(data) — the signed part of a packet. */
export function encodePacketData(packet: Discv4Packet): Uint8Array {
  const code = DISCV4_PACKET[packet.type]
  if (code === undefined) throw new RangeError(`unknown packet type ${String(packet.type)}`)
  return encodeWithPrefix(code, packetItems(packet))
}

/**
 * Sign and frame a packet (geth v4wire.Encode): sig = sign(keccak256(type || data)),
 * hash = keccak256(sig || type || data), bytes = hash || sig || type || data.
 * Throws DecodeError PACKET_TOO_BIG above 1280 bytes, BAD_IP for an unparsable IP; RangeError for
 * out-of-range fields (a programming error, not remote input).
 */
export function encodePacket(privKey: Uint8Array, packet: Discv4Packet): EncodedPacket {
  const data = encodePacketData(packet)
  const size = DISCV4_HEAD_SIZE + data.length
  if (size > DISCV4_MAX_PACKET_SIZE)
    throw new DecodeError('PACKET_TOO_BIG', `discv4 packet of ${size} bytes`, {
      size,
      max: DISCV4_MAX_PACKET_SIZE,
    })
  const bytes = new Uint8Array(size)
  bytes.set(sign(keccak256(data), privKey), DISCV4_HASH_SIZE)
  bytes.set(data, DISCV4_HEAD_SIZE)
  const hash = keccak256(bytes.subarray(DISCV4_HASH_SIZE))
  bytes.set(hash, 0)
  return { bytes, hash }
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

function decodeEndpoint(item: RlpItem | undefined, what: string): Endpoint {
  const l = asList(item, what, 3)
  return {
    ip: endpointIpFromBytes(asBytes(l[0], `${what}.ip`)),
    udp: asUint(l[1], `${what}.udp`, 2),
    tcp: asUint(l[2], `${what}.tcp`, 2),
  }
}

function decodeNode(item: RlpItem | undefined, what: string): NeighborNode {
  const l = asList(item, what, 4)
  if (l.length > 4) throw new DecodeError('BAD_MESSAGE', `${what}: ${l.length} elements, expected 4`)
  return {
    ip: endpointIpFromBytes(asBytes(l[0], `${what}.ip`)),
    udp: asUint(l[1], `${what}.udp`, 2),
    tcp: asUint(l[2], `${what}.tcp`, 2),
    pubkey: asFixedBytes(l[3], 64, `${what}.pubkey`).slice(),
  }
}

/** geth decodes Endpoint (a struct without a tail): exactly three elements. */
function strictEndpoint(item: RlpItem | undefined, what: string): Endpoint {
  if (Array.isArray(item) && item.length > 3)
    throw new DecodeError('BAD_MESSAGE', `${what}: ${item.length} elements, expected 3`)
  return decodeEndpoint(item, what)
}

const u64 = (item: RlpItem | undefined, what: string): bigint => asBigUint(item, what, 8)

function withExtra<T extends Discv4Packet>(p: T, l: RlpItem[], used: number): T {
  if (l.length > used) p.extra = l.slice(used)
  return p
}

/** Decode the data of a packet of the given type (the first RLP value after the type byte). */
export function decodePacketData(type: number, data: Uint8Array): { packet: Discv4Packet; rest: Uint8Array } {
  const name = DISCV4_PACKET_NAME[type]
  if (name === undefined)
    throw new DecodeError('UNKNOWN_PACKET_TYPE', `discv4 packet type ${type}`, { packetType: type })
  const { item, rest } = rlpDecodePrefix(data)
  const l = asList(item, name)
  let packet: Discv4Packet
  switch (name) {
    case 'ping': {
      asList(item, name, 4)
      const p: PingPacket = {
        type: 'ping',
        version: Number(u64(l[0], 'ping.version')),
        from: strictEndpoint(l[1], 'ping.from'),
        to: strictEndpoint(l[2], 'ping.to'),
        expiration: u64(l[3], 'ping.expiration'),
      }
      if (l.length > 4) p.enrSeq = u64(l[4], 'ping.enrSeq')
      packet = withExtra(p, l, 5)
      break
    }
    case 'pong': {
      asList(item, name, 3)
      const p: PongPacket = {
        type: 'pong',
        to: strictEndpoint(l[0], 'pong.to'),
        replyTok: asBytes(l[1], 'pong.replyTok').slice(),
        expiration: u64(l[2], 'pong.expiration'),
      }
      if (l.length > 3) p.enrSeq = u64(l[3], 'pong.enrSeq')
      packet = withExtra(p, l, 4)
      break
    }
    case 'findnode':
      asList(item, name, 2)
      packet = withExtra(
        {
          type: 'findnode',
          target: asFixedBytes(l[0], 64, 'findnode.target').slice(),
          expiration: u64(l[1], 'findnode.expiration'),
        },
        l,
        2,
      )
      break
    case 'neighbors':
      asList(item, name, 2)
      packet = withExtra(
        {
          type: 'neighbors',
          nodes: asList(l[0], 'neighbors.nodes').map((n, i) => decodeNode(n, `neighbors.nodes[${i}]`)),
          expiration: u64(l[1], 'neighbors.expiration'),
        },
        l,
        2,
      )
      break
    case 'enrRequest':
      asList(item, name, 1)
      packet = withExtra({ type: 'enrRequest', expiration: u64(l[0], 'enrRequest.expiration') }, l, 1)
      break
    case 'enrResponse': {
      asList(item, name, 2)
      const replyTok = asBytes(l[0], 'enrResponse.replyTok').slice()
      asList(l[1], 'enrResponse.record')
      // the record's own bytes: the second raw element of the packet's list
      const record = rlpDecodeRawList(data.subarray(0, data.length - rest.length))[1]!.slice()
      // geth decodes the record as an enr.Record (size, k/v pairs, sorted unique keys) without checking
      // its signature; the signature is the caller's job (decodeEnr(record) verifies, geth enode.New).
      decodeEnr(record, { verify: false })
      packet = withExtra({ type: 'enrResponse', replyTok, record }, l, 2)
      break
    }
  }
  return { packet, rest }
}

/**
 * Decode a discovery v4 datagram (geth v4wire.Decode): size check, hash check, sender recovery, packet type,
 * then the packet data. Datagrams over 1280 bytes are accepted. Every failure is a DecodeError; failures after
 * sender recovery carry `details.hash` and `details.senderPubkey` (geth returns them alongside the error).
 */
export function decodePacket(bytes: Uint8Array): DecodedPacket {
  if (bytes.length < DISCV4_HEAD_SIZE + 1)
    throw new DecodeError('PACKET_TOO_SMALL', `discv4 packet of ${bytes.length} bytes`, {
      size: bytes.length,
      min: DISCV4_HEAD_SIZE + 1,
    })
  const hash = bytes.subarray(0, DISCV4_HASH_SIZE)
  const want = keccak256(bytes.subarray(DISCV4_HASH_SIZE))
  for (let i = 0; i < DISCV4_HASH_SIZE; i++)
    if (hash[i] !== want[i]) throw new DecodeError('BAD_HASH', 'discv4 packet hash mismatch')
  const sig = bytes.subarray(DISCV4_HASH_SIZE, DISCV4_HEAD_SIZE)
  const signed = bytes.subarray(DISCV4_HEAD_SIZE)
  let senderPubkey: Uint8Array
  try {
    senderPubkey = recoverPublicKey(keccak256(signed), sig)
  } catch (e) {
    throw new DecodeError('BAD_SIGNATURE', (e as Error)?.message ?? 'signature recovery failed', {
      hash: hash.slice(),
    })
  }
  try {
    const { packet, rest } = decodePacketData(signed[0]!, signed.subarray(1))
    return { packet, hash: hash.slice(), senderPubkey, senderId: keccak256(senderPubkey), rest }
  } catch (e) {
    const err =
      e instanceof DecodeError ? e : new DecodeError('RLP_INVALID', (e as Error)?.message ?? String(e))
    Object.assign(err.details, { hash: hash.slice(), senderPubkey })
    throw err
  }
}

// ---------------------------------------------------------------------------------------------------------
// Neighbors

/**
 * Split nodes into Neighbors packets of at most `max` (12, geth MaxNeighbors) nodes, as geth handleFindnode
 * does: always at least one packet (an empty one when there are no nodes), and every packet stays under the
 * 1280-byte limit (a packet is closed early if the next node would push it over).
 */
export function splitNeighbors(
  nodes: readonly NeighborNode[],
  expiration: bigint,
  max = DISCV4_MAX_NEIGHBORS,
): NeighborsPacket[] {
  const out: NeighborsPacket[] = []
  let cur: NeighborNode[] = []
  let curSize = 0
  // Size of the list payload of the node list; header sizes are added when checking the limit.
  const fixed = DISCV4_HEAD_SIZE + 1 + encSize(checkU64(expiration, 'expiration'), [])
  const fits = (payload: number): boolean => {
    const nodesList = listSize(payload)
    const body = nodesList + fixed - DISCV4_HEAD_SIZE - 1
    return DISCV4_HEAD_SIZE + 1 + listSize(body) <= DISCV4_MAX_PACKET_SIZE
  }
  for (const n of nodes) {
    const size = encSize([endpointIpToBytes(n.ip), n.udp, n.tcp, n.pubkey], [])
    if (cur.length > 0 && (cur.length >= max || !fits(curSize + size))) {
      out.push({ type: 'neighbors', nodes: cur, expiration })
      cur = []
      curSize = 0
    }
    cur.push(n)
    curSize += size
  }
  if (cur.length > 0 || out.length === 0) out.push({ type: 'neighbors', nodes: cur, expiration })
  return out
}

function listSize(payload: number): number {
  if (payload < 56) return 1 + payload
  let n = 0
  for (let x = payload; x > 0; x = Math.floor(x / 256)) n++
  return 1 + n + payload
}

/** Short human-readable form for logs: `PING/v4 …` like geth's packet Name(). */
export function packetName(p: Discv4Packet): string {
  switch (p.type) {
    case 'ping':
      return 'PING/v4'
    case 'pong':
      return 'PONG/v4'
    case 'findnode':
      return 'FINDNODE/v4'
    case 'neighbors':
      return 'NEIGHBORS/v4'
    case 'enrRequest':
      return 'ENRREQUEST/v4'
    case 'enrResponse':
      return 'ENRRESPONSE/v4'
  }
}
