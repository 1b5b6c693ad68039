// devp2p base protocol messages ("p2p" capability, devp2p rlpx.md; behaviour of geth p2p/peer.go,
// p2p/transport.go, p2p/peer_error.go, p2p/protocol.go): Hello, Disconnect with geth's DiscReasons, Ping/Pong,
// and capability matching (geth matchProtocols).
//
// Public API (stable):
//   P2P_MSG                              { hello: 0x00, disconnect: 0x01, ping: 0x02, pong: 0x03 } as const
//   BASE_PROTOCOL_VERSION (5), BASE_PROTOCOL_LENGTH (16), HELLO_MAX_SIZE (2048)
//   type Capability {name, version}; interface Hello {version, name, caps, listenPort, id, extra?}
//   encodeHello(hello) / decodeHello(payload) (throws DecodeError: MESSAGE_TOO_BIG, INVALID_IDENTITY, RLP_*, …)
//   assertHelloSize(size)                throws DecodeError MESSAGE_TOO_BIG above 2048 (geth readProtocolHandshake)
//   helloFailureReason(err)              DiscReason geth sends back when decoding the remote Hello failed, or null
//   DiscReason (const table + type), DISC_INVALID (0xff), discReasonString(n), isDiscReason(n)
//   encodeDisconnect(reason) → `[reason]` (what geth sends); decodeDisconnect(payload) → number, never throws
//   PING_PAYLOAD / PONG_PAYLOAD (`c0`), encodePing(), encodePong()
//   matchProtocols(ours, theirCaps) → [{name, version, offset, length, protocol}] sorted by name, offsets from 0x10
//   countMatchingProtocols(ours, theirCaps), capString(cap) → "eth/68"
import { DecodeError } from './errors.ts'
import { asBigUint, asBytes, asList, type RlpInput, type RlpItem, rlpDecodePrefix, rlpEncode } from './rlp.ts'

/** Base protocol message codes (geth p2p/peer.go handshakeMsg … pongMsg). */
export const P2P_MSG = {
  hello: 0x00,
  disconnect: 0x01,
  ping: 0x02,
  pong: 0x03,
} as const
export type P2pMsgCode = (typeof P2P_MSG)[keyof typeof P2P_MSG]

/** geth p2p/peer.go baseProtocolVersion (5 = snappy compression after Hello). */
export const BASE_PROTOCOL_VERSION = 5
/** geth p2p/peer.go baseProtocolLength: codes 0x00–0x0f belong to the base protocol. */
export const BASE_PROTOCOL_LENGTH = 16
/** geth p2p/peer.go baseProtocolMaxMsgSize: max Hello size. */
export const HELLO_MAX_SIZE = 2 * 1024
/** geth p2p/peer.go snappyProtocolVersion: snappy is used when the remote's Hello version is ≥ 5. */
export const SNAPPY_PROTOCOL_VERSION = 5
/** geth decodeDisconnectMessage reads the reason with an RLP stream limited to 100 bytes. */
export const DISCONNECT_DECODE_LIMIT = 100

// ---------------------------------------------------------------------------------------------------------
// Disconnect reasons

/** geth p2p/peer_error.go DiscReason values. */
export const DiscReason = {
  Requested: 0x00,
  NetworkError: 0x01,
  ProtocolError: 0x02,
  UselessPeer: 0x03,
  TooManyPeers: 0x04,
  AlreadyConnected: 0x05,
  IncompatibleVersion: 0x06,
  InvalidIdentity: 0x07,
  Quitting: 0x08,
  UnexpectedIdentity: 0x09,
  Self: 0x0a,
  ReadTimeout: 0x0b,
  SubprotocolError: 0x10,
} as const
export type DiscReason = (typeof DiscReason)[keyof typeof DiscReason]

/** geth DiscInvalid: what decodeDisconnect returns for an undecodable payload. */
export const DISC_INVALID = 0xff

/** geth discReasonToString, exact strings. */
const DISC_REASON_STRINGS: Readonly<Record<number, string>> = {
  [DiscReason.Requested]: 'disconnect requested',
  [DiscReason.NetworkError]: 'network error',
  [DiscReason.ProtocolError]: 'breach of protocol',
  [DiscReason.UselessPeer]: 'useless peer',
  [DiscReason.TooManyPeers]: 'too many peers',
  [DiscReason.AlreadyConnected]: 'already connected',
  [DiscReason.IncompatibleVersion]: 'incompatible p2p protocol version',
  [DiscReason.InvalidIdentity]: 'invalid node identity',
  [DiscReason.Quitting]: 'client quitting',
  [DiscReason.UnexpectedIdentity]: 'unexpected identity',
  [DiscReason.Self]: 'connected to self',
  [DiscReason.ReadTimeout]: 'read timeout',
  [DiscReason.SubprotocolError]: 'subprotocol error',
  [DISC_INVALID]: 'invalid disconnect reason',
}

/** geth DiscReason.String(): the reason's text, or `unknown disconnect reason N`. */
export function discReasonString(reason: number): string {
  return DISC_REASON_STRINGS[reason] ?? `unknown disconnect reason ${reason}`
}

export function isDiscReason(n: number): n is DiscReason {
  return n !== DISC_INVALID && DISC_REASON_STRINGS[n] !== undefined
}

/** Disconnect payload as geth sends it: the list `[reason]` (e.g. `c1 04`; reason 0 is `c1 80`). */
export function encodeDisconnect(reason: number): Uint8Array {
  if (!Number.isInteger(reason) || reason < 0 || reason > 0xff) throw new RangeError(`bad reason ${reason}`)
  return rlpEncode([reason])
}

/**
 * geth decodeDisconnectMessage: accepts `[reason, ...]` (extra elements ignored) and a bare integer (the legacy
 * form ethjs still sends, `08`); anything undecodable — empty payload, empty list `c0`, non-canonical or
 * > 1-byte integers, a list as first element, an item over the 100-byte stream limit — yields DISC_INVALID
 * (0xff). Never throws. The result is any uint8: unknown values are returned as they are, like geth.
 */
export function decodeDisconnect(payload: Uint8Array): number {
  const limit = Math.min(DISCONNECT_DECODE_LIMIT, payload.length)
  const top = readHeader(payload, 0, limit)
  if (!top) return DISC_INVALID
  if (top.kind === 'list') {
    const inner = readHeader(payload, top.start, top.start + top.size)
    if (!inner) return DISC_INVALID // includes the empty list (geth: EOL → DiscInvalid)
    return readUint8(payload, inner)
  }
  return readUint8(payload, top)
}

interface Header {
  kind: 'byte' | 'string' | 'list'
  /** start of the content (for 'byte', the byte itself) */
  start: number
  size: number
}

/** One canonical RLP header at `off`, whose content must end at or before `end` (geth rlp.Stream.readKind). */
function readHeader(b: Uint8Array, off: number, end: number): Header | null {
  if (off >= end) return null
  const p = b[off]!
  if (p < 0x80) return { kind: 'byte', start: off, size: 1 }
  let kind: 'string' | 'list'
  let size: number
  let start: number
  if (p < 0xb8 || (p >= 0xc0 && p < 0xf8)) {
    kind = p < 0xc0 ? 'string' : 'list'
    size = p - (p < 0xc0 ? 0x80 : 0xc0)
    start = off + 1
  } else {
    kind = p < 0xc0 ? 'string' : 'list'
    const n = p - (p < 0xc0 ? 0xb7 : 0xf7)
    if (off + 1 + n > end || b[off + 1] === 0) return null
    size = 0
    for (let i = 0; i < n; i++) size = size * 256 + b[off + 1 + i]!
    if (size < 56) return null
    start = off + 1 + n
  }
  if (start + size > end) return null
  return { kind, start, size }
}

/** geth rlp decoding into a uint8: canonical, at most one byte. */
function readUint8(b: Uint8Array, h: Header): number {
  if (h.kind === 'byte') return b[h.start]!
  if (h.kind === 'list') return DISC_INVALID
  if (h.size === 0) return 0
  if (h.size > 1) return DISC_INVALID
  const v = b[h.start]!
  return v < 0x80 ? DISC_INVALID : v
}

// ---------------------------------------------------------------------------------------------------------
// Ping / Pong

/** Ping and Pong carry an empty list (geth SendItems(rw, pingMsg)). */
export const PING_PAYLOAD: Uint8Array = Uint8Array.of(0xc0)
export const PONG_PAYLOAD: Uint8Array = Uint8Array.of(0xc0)
export function encodePing(): Uint8Array {
  return Uint8Array.of(0xc0)
}
export function encodePong(): Uint8Array {
  return Uint8Array.of(0xc0)
}

// ---------------------------------------------------------------------------------------------------------
// Hello

export interface Capability {
  name: string
  version: number
}

export interface Hello {
  /** p2p protocol version (5 today) */
  version: number
  /** client name, e.g. "Geth/v1.14.0-stable/linux-amd64/go1.22.1" */
  name: string
  caps: Capability[]
  /** geth ignores it and sends 0 */
  listenPort: number
  /** 64-byte X||Y public key */
  id: Uint8Array
  /** additional list elements (EIP-8 forward compatibility; geth `Rest`), re-encoded when present */
  extra?: RlpItem[]
}

export function capString(cap: Capability): string {
  return `${cap.name}/${cap.version}`
}

/** geth readProtocolHandshake: a Hello above 2048 bytes is refused before decoding. */
export function assertHelloSize(size: number): void {
  if (size > HELLO_MAX_SIZE)
    throw new DecodeError('MESSAGE_TOO_BIG', `hello of ${size} bytes`, { size, max: HELLO_MAX_SIZE })
}

export function encodeHello(h: Hello): Uint8Array {
  const items: RlpInput[] = [h.version, h.name, h.caps.map((c) => [c.name, c.version]), h.listenPort, h.id]
  if (h.extra) for (const x of h.extra) items.push(x as RlpInput)
  return rlpEncode(items)
}

const utf8 = new TextDecoder('utf-8')

/**
 * Decode a Hello payload as geth does (struct protoHandshake with an `rlp:"tail"`): a list of at least five
 * elements, extra elements kept in `extra`, bytes after the list ignored (geth decodes with a stream); caps are
 * exactly `[name, version]` pairs; integers are canonical uint64 (read into numbers). The id must be 64 bytes
 * and not all zero, else DecodeError INVALID_IDENTITY (geth answers DiscInvalidIdentity).
 */
export function decodeHello(payload: Uint8Array): Hello {
  assertHelloSize(payload.length)
  const { item } = rlpDecodePrefix(payload)
  const l = asList(item, 'hello', 5)
  const caps = asList(l[2], 'hello.caps').map((c, i): Capability => {
    const pair = asList(c, `hello.caps[${i}]`, 2)
    if (pair.length > 2)
      throw new DecodeError('BAD_MESSAGE', `hello.caps[${i}]: ${pair.length} elements, expected 2`)
    return {
      name: utf8.decode(asBytes(pair[0], `hello.caps[${i}].name`)),
      version: Number(asBigUint(pair[1], `hello.caps[${i}].version`, 8)),
    }
  })
  const id = asBytes(l[4], 'hello.id').slice() // a copy: the payload buffer may be reused
  if (id.length !== 64 || id.every((x) => x === 0))
    throw new DecodeError('INVALID_IDENTITY', `hello id of ${id.length} bytes`, { size: id.length })
  const hello: Hello = {
    version: Number(asBigUint(l[0], 'hello.version', 8)),
    name: utf8.decode(asBytes(l[1], 'hello.name')),
    caps,
    listenPort: Number(asBigUint(l[3], 'hello.listenPort', 8)),
    id,
  }
  if (l.length > 5) hello.extra = l.slice(5)
  return hello
}

/**
 * What geth sends when reading the remote Hello fails (p2p/transport.go readProtocolHandshake + close): only a
 * DiscReason error is answered with a Disconnect — a bad identity with DiscInvalidIdentity; a Disconnect
 * received instead of a Hello ends the handshake with that reason and nothing is sent back (null); any other
 * failure (decode error, too big) closes the connection without a Disconnect (null).
 */
export function helloFailureReason(err: unknown): DiscReason | null {
  if (err instanceof DecodeError && err.code === 'INVALID_IDENTITY') return DiscReason.InvalidIdentity
  return null
}

// ---------------------------------------------------------------------------------------------------------
// Capability matching

/** What matching needs of a protocol we run (geth p2p.Protocol Name / Version / Length). */
export interface ProtocolCap {
  name: string
  version: number
  /** number of message codes the protocol uses */
  length: number
}

export interface SharedCapability<P extends ProtocolCap = ProtocolCap> {
  name: string
  version: number
  /** first message code of this protocol on the connection */
  offset: number
  length: number
  /** the matched entry of `ours` */
  protocol: P
}

/** geth Cap.Cmp: by name (byte order, like Go strings.Compare), then version. */
function compareCaps(a: Capability, b: Capability): number {
  if (a.name !== b.name) return Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8'))
  return a.version - b.version
}

/**
 * geth matchProtocols: walk the remote caps sorted by (name, version); each cap we run with the same name and
 * version replaces any lower match of that name, so the highest shared version per name wins; offsets are
 * laid out from 0x10 (baseProtocolLength) in name order. Pure; the inputs are not modified.
 */
export function matchProtocols<P extends ProtocolCap>(
  ours: readonly P[],
  theirs: readonly Capability[],
): SharedCapability<P>[] {
  const sorted = [...theirs].sort(compareCaps)
  const result = new Map<string, SharedCapability<P>>()
  let offset = BASE_PROTOCOL_LENGTH
  for (const cap of sorted) {
    const proto = ours.find((p) => p.name === cap.name && p.version === cap.version)
    if (!proto) continue
    const old = result.get(cap.name)
    if (old) {
      offset -= old.length
      result.delete(cap.name) // re-insert so iteration order stays the order of offsets
    }
    result.set(cap.name, {
      name: proto.name,
      version: proto.version,
      offset,
      length: proto.length,
      protocol: proto,
    })
    offset += proto.length
  }
  return [...result.values()].sort((a, b) => a.offset - b.offset)
}

/** geth countMatchingProtocols: how many remote caps we run exactly (0 → DiscUselessPeer). */
export function countMatchingProtocols(ours: readonly ProtocolCap[], theirs: readonly Capability[]): number {
  let n = 0
  for (const cap of theirs) for (const p of ours) if (p.name === cap.name && p.version === cap.version) n++
  return n
}
