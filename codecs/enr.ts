// Ethereum Node Records (EIP-778; devp2p enr.md; go-ethereum p2p/enr and p2p/enode): decode/encode the
// RLP and `enr:` text forms, the "v4" identity scheme (sign, verify, node id), typed entries, and the
// conversion to a Node with geth's address preference. Also the IP text⇄bytes helpers the codecs share.
//
// API (records are immutable plain data; every function is pure)
//   Enr { seq, signature, pairs: key → raw RLP value (sorted), raw }
//   decodeEnr(bytes, { verify = true })   RLP record → Enr (300-byte limit, sorted unique keys; geth rules)
//   parseEnrText(text, { verify = true }) `enr:` + base64url (no padding) → Enr
//   encodeEnr(enr) / enrToText(enr)       the RLP bytes / the `enr:` text
//   verifyEnr(enr)                        throws DecodeError unless a valid "v4" signature
//   createEnr(privateKey, init)           build + sign (v4: keccak256(rlp([seq, k, v, …])), 64-byte r||s,
//                                         RFC 6979, so EIP-778's example is reproduced byte for byte)
//   updateEnr(enr, privateKey, changes)   set/remove entries, seq + 1, re-sign (geth Record.Set + SignV4)
//   enrGet(enr, key)                      typed value of id secp256k1 ip ip6 tcp tcp6 udp udp6 eth, or undefined
//   enrGetRaw(enr, key)                   raw RLP value of any key (unknown keys are preserved as given)
//   enrPublicKey(enr) / enrNodeId(enr)    64-byte key / keccak256 of it (v4 scheme)
//   enrToNode(enr)                        Node { id, pubkey, ip?, tcp?, udp?, record } (geth newNodeWithID)
//   parseIp(text) / formatIp(bytes)  Go net.ParseIP / net.IP.String semantics (4 or 16 bytes)
// Decoded records own their bytes (the input is copied once; values are views into that copy).
import { keccak256 } from '../crypto/keccak.ts'
import { nodeIdOf, verifySignature } from '../crypto/keys.ts'
import { compressPublicKey, publicKeyOf, sign, uncompressPublicKey } from '../crypto/secp256k1.ts'
import { base64UrlDecode } from './bytes.ts'
import { DecodeError } from './errors.ts'
import { type ForkId, forkIdFromItem, forkIdToItem } from './forkid.ts'
import type { Node, NodeId } from './node.ts'
import {
  asBigUint,
  asBytes,
  asList,
  asUint,
  type RlpItem,
  rlpDecode,
  rlpDecodeRawList,
  rlpEncode,
  rlpEncodeRawList,
} from './rlp.ts'

/** Maximum encoded size of a node record (EIP-778; geth enr.SizeLimit). */
export const ENR_MAX_SIZE = 300
/** The only identity scheme geth accepts (enode.ValidSchemes). */
export const ENR_SCHEME_V4 = 'v4'
export const ENR_TEXT_PREFIX = 'enr:'

export interface Enr {
  readonly seq: bigint
  /** 64-byte r||s for "v4" records (any length when decoded without verification) */
  readonly signature: Uint8Array
  /** key → raw RLP value bytes exactly as in the record, in key order (keys are byte strings, latin1) */
  readonly pairs: ReadonlyMap<string, Uint8Array>
  /** the encoded record */
  readonly raw: Uint8Array
}

/** Typed values of the well-known keys (EIP-778 table + the eth entry of eth/64+). */
export interface EnrEntries {
  id: string
  /** 33-byte compressed public key */
  secp256k1: Uint8Array
  ip: string
  ip6: string
  tcp: number
  tcp6: number
  udp: number
  udp6: number
  /** the fork id of the `eth` entry [[hash, next], …rest] */
  eth: ForkId
}

export interface DecodeEnrOptions {
  /** check the "v4" signature (default true); false is geth's plain rlp.DecodeBytes(&enr.Record) */
  verify?: boolean
}

const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')
const fromLatin1 = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'))

function badEnr(message: string, details?: Record<string, unknown>): DecodeError {
  return new DecodeError('BAD_ENR', message, details)
}

/** Decode an RLP record (geth enr.Record.DecodeRLP), verifying its signature unless told not to. */
export function decodeEnr(bytes: Uint8Array, opts: DecodeEnrOptions = {}): Enr {
  if (bytes.length > ENR_MAX_SIZE)
    throw new DecodeError('ENR_TOO_BIG', `record bigger than ${ENR_MAX_SIZE} bytes`, { size: bytes.length })
  const raw = bytes.slice()
  const elems = rlpDecodeRawList(raw)
  if (elems.length < 2) throw badEnr('record contains less than two list elements')
  const signature = asBytes(rlpDecode(elems[0]!), 'enr signature')
  const seq = asBigUint(rlpDecode(elems[1]!), 'enr seq', 8)
  if ((elems.length - 2) % 2 !== 0) throw badEnr('record contains incomplete k/v pair')
  const pairs = new Map<string, Uint8Array>()
  let prev: string | undefined
  for (let i = 2; i < elems.length; i += 2) {
    const key = latin1(asBytes(rlpDecode(elems[i]!), 'enr key'))
    if (prev !== undefined) {
      if (key === prev) throw new DecodeError('ENR_UNSORTED_KEYS', 'record contains duplicate key', { key })
      if (key < prev)
        throw new DecodeError('ENR_UNSORTED_KEYS', 'record key/value pairs are not sorted by key', { key })
    }
    pairs.set(key, elems[i + 1]!)
    prev = key
  }
  const enr: Enr = { seq, signature, pairs, raw }
  if (opts.verify !== false) verifyEnr(enr)
  return enr
}

export function encodeEnr(enr: Enr): Uint8Array {
  return enr.raw
}

/** `enr:` + base64url (RFC 4648 §5, no padding) → record (geth enode.Parse for the enr: form). */
export function parseEnrText(text: string, opts: DecodeEnrOptions = {}): Enr {
  if (!text.startsWith(ENR_TEXT_PREFIX)) throw badEnr("missing 'enr:' prefix for base64-encoded record")
  const bytes = base64UrlDecode(text.slice(ENR_TEXT_PREFIX.length))
  if (bytes === undefined) {
    // Go's message names the first bad character, else the start of the incomplete last quantum
    const b64 = text.slice(ENR_TEXT_PREFIX.length).replace(/[\r\n]/g, '')
    const bad = b64.search(/[^A-Za-z0-9_-]/)
    const at = bad >= 0 ? bad : b64.length - 1 - ((b64.length - 1) % 4)
    throw badEnr(`illegal base64 data at input byte ${at}`)
  }
  return decodeEnr(bytes, opts)
}

export function enrToText(enr: Enr): string {
  return ENR_TEXT_PREFIX + Buffer.from(enr.raw).toString('base64url')
}

/** Raw RLP value of a key, or undefined. */
export function enrGetRaw(enr: Enr, key: string): Uint8Array | undefined {
  return enr.pairs.get(key)
}

type EntryCodec<T> = { decode(item: RlpItem): T; encode(v: T): Uint8Array }

const portCodec = (key: string): EntryCodec<number> => ({
  decode: (item) => asUint(item, `ENR key "${key}"`, 2),
  encode: (v) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`ENR ${key}: invalid port ${v}`)
    return rlpEncode(v)
  },
})

const ENTRY_CODECS: { [K in keyof EnrEntries]: EntryCodec<EnrEntries[K]> } = {
  id: {
    decode: (item) => Buffer.from(asBytes(item, 'ENR key "id"')).toString('utf8'),
    encode: (v) => rlpEncode(v),
  },
  secp256k1: {
    decode: (item) => {
      const b = asBytes(item, 'ENR key "secp256k1"')
      if (b.length !== 33) throw badEnr('invalid public key')
      return b
    },
    encode: (v) => rlpEncode(compressPublicKey(v)),
  },
  ip: {
    decode: (item) => {
      const b = asBytes(item, 'ENR key "ip"')
      if (b.length !== 4) throw badEnr('ENR key "ip": invalid IPv4 address, want 4 bytes')
      return formatIp(b)
    },
    encode: (v) => {
      const b = parseIp(v)
      const four = b && (b.length === 4 ? b : isV4Mapped(b) ? b.subarray(12) : null)
      if (!four) throw new RangeError(`ENR ip: invalid IPv4 address ${JSON.stringify(v)}`)
      return rlpEncode(four)
    },
  },
  ip6: {
    decode: (item) => {
      const b = asBytes(item, 'ENR key "ip6"')
      if (b.length !== 16) throw badEnr('ENR key "ip6": invalid IPv6 address, want 16 bytes')
      return formatIp(b)
    },
    encode: (v) => {
      const b = parseIp(v)
      if (!b) throw new RangeError(`ENR ip6: invalid IP address ${JSON.stringify(v)}`)
      return rlpEncode(b.length === 16 ? b : Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...b))
    },
  },
  tcp: portCodec('tcp'),
  tcp6: portCodec('tcp6'),
  udp: portCodec('udp'),
  udp6: portCodec('udp6'),
  eth: {
    // geth eth/protocols/eth enrEntry: [ForkID, ...Rest] with a tail of ignored elements
    decode: (item) => forkIdFromItem(asList(item, 'ENR key "eth"', 1)[0], 'ENR key "eth" forkid'),
    encode: (v) => rlpEncode([forkIdToItem(v)]),
  },
}

/** Typed value of a well-known key; undefined when absent; DecodeError when present but malformed. */
export function enrGet<K extends keyof EnrEntries>(enr: Enr, key: K): EnrEntries[K] | undefined {
  const raw = enr.pairs.get(key)
  if (raw === undefined) return undefined
  return ENTRY_CODECS[key].decode(rlpDecode(raw))
}

/** The same as enrGet but undefined when malformed (geth ignores Load errors when building a Node). */
function tryGet<K extends keyof EnrEntries>(enr: Enr, key: K): EnrEntries[K] | undefined {
  try {
    return enrGet(enr, key)
  } catch {
    return undefined
  }
}

/** Content that the v4 scheme signs: rlp([seq, k1, v1, k2, v2, …]). */
function signedContent(seq: bigint, pairs: ReadonlyMap<string, Uint8Array>): Uint8Array[] {
  const items: Uint8Array[] = [rlpEncode(seq)]
  for (const [k, v] of pairs) items.push(rlpEncode(fromLatin1(k)), v)
  return items
}

/** Check the "v4" identity scheme signature (geth enode.V4ID.Verify); throws DecodeError when invalid. */
export function verifyEnr(enr: Enr): void {
  const id = tryGet(enr, 'id')
  if (id !== ENR_SCHEME_V4)
    throw new DecodeError(
      'ENR_UNKNOWN_SCHEME',
      `identity scheme ${JSON.stringify(id ?? '')} not supported: invalid signature on node record`,
    )
  const key = enr.pairs.get('secp256k1')
  if (key === undefined) throw badEnr('missing ENR key "secp256k1"')
  const pub = asBytes(rlpDecode(key), 'ENR key "secp256k1"')
  if (pub.length !== 33) throw badEnr('invalid public key')
  const hash = keccak256(rlpEncodeRawList(signedContent(enr.seq, enr.pairs)))
  if (!verifySignature(hash, enr.signature, pub))
    throw new DecodeError('ENR_BAD_SIGNATURE', 'invalid signature on node record')
}

/** 64-byte X||Y public key of a v4 record. */
export function enrPublicKey(enr: Enr): Uint8Array {
  const c = enrGet(enr, 'secp256k1')
  if (c === undefined) throw badEnr('missing ENR key "secp256k1"')
  try {
    return uncompressPublicKey(c)
  } catch {
    throw badEnr('invalid public key')
  }
}

/** Node id of a v4 record = keccak256(64-byte public key) (geth V4ID.NodeAddr). */
export function enrNodeId(enr: Enr): NodeId {
  const id = tryGet(enr, 'id')
  if (id !== ENR_SCHEME_V4)
    throw new DecodeError('ENR_UNKNOWN_SCHEME', `identity scheme ${JSON.stringify(id ?? '')} not supported`)
  return nodeIdOf(enrPublicKey(enr))
}

/** Entries to set when building a record; `other` holds raw RLP values of any further keys. */
export type EnrInit = Partial<Omit<EnrEntries, 'id' | 'secp256k1'>> & {
  seq?: bigint
  other?: Readonly<Record<string, Uint8Array>>
}

/** Sign sorted pairs (adds id=v4 and secp256k1) into a record. */
function signPairs(privateKey: Uint8Array, seq: bigint, input: Map<string, Uint8Array>): Enr {
  if (seq < 0n || seq >= 1n << 64n) throw new RangeError('ENR seq must be a uint64')
  input.set('id', ENTRY_CODECS.id.encode(ENR_SCHEME_V4))
  input.set('secp256k1', ENTRY_CODECS.secp256k1.encode(publicKeyOf(privateKey)))
  const pairs = new Map([...input.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  for (const v of pairs.values()) rlpDecode(v) // every value must be one canonical RLP item
  const content = signedContent(seq, pairs)
  const signature = sign(keccak256(rlpEncodeRawList(content)), privateKey).slice(0, 64)
  const raw = rlpEncodeRawList([rlpEncode(signature), ...content])
  if (raw.length > ENR_MAX_SIZE)
    throw new DecodeError('ENR_TOO_BIG', `record bigger than ${ENR_MAX_SIZE} bytes`, { size: raw.length })
  return decodeEnr(raw, { verify: false })
}

function applyInit(pairs: Map<string, Uint8Array>, init: EnrInit): void {
  for (const [k, v] of Object.entries(init.other ?? {})) pairs.set(k, v)
  for (const key of ['ip', 'ip6', 'tcp', 'tcp6', 'udp', 'udp6', 'eth'] as const) {
    const v = init[key]
    if (v !== undefined) pairs.set(key, (ENTRY_CODECS[key] as EntryCodec<typeof v>).encode(v))
  }
}

/** Build and sign a "v4" record (seq defaults to 1). */
export function createEnr(privateKey: Uint8Array, init: EnrInit = {}): Enr {
  const pairs = new Map<string, Uint8Array>()
  applyInit(pairs, init)
  return signPairs(privateKey, init.seq ?? 1n, pairs)
}

/** A new record with entries set/removed, seq + 1 (or `changes.seq`), signed again. */
export function updateEnr(
  enr: Enr,
  privateKey: Uint8Array,
  changes: EnrInit & { remove?: readonly string[] },
): Enr {
  const pairs = new Map(enr.pairs)
  for (const k of changes.remove ?? []) pairs.delete(k)
  applyInit(pairs, changes)
  return signPairs(privateKey, changes.seq ?? enr.seq + 1n, pairs)
}

// ---- conversion to Node (geth enode.newNodeWithID) ----

const isV4Mapped = (b: Uint8Array) =>
  b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff

function unmap(b: Uint8Array): Uint8Array {
  return isV4Mapped(b) ? b.subarray(12) : b
}

function isMulticast(b: Uint8Array): boolean {
  const u = unmap(b)
  return u.length === 4 ? (u[0]! & 0xf0) === 0xe0 : u[0] === 0xff
}

/** geth enode localityScore: 0 unspecified, 1 loopback, 2 link-local, 3 private, 4 global. */
export function ipLocalityScore(bytes: Uint8Array): number {
  const b = unmap(bytes)
  if (b.every((x) => x === 0)) return 0
  if (b.length === 4) {
    if (b[0] === 127) return 1
    if (b[0] === 169 && b[1] === 254) return 2
    if (b[0] === 10 || (b[0] === 172 && (b[1]! & 0xf0) === 16) || (b[0] === 192 && b[1] === 168)) return 3
    return 4
  }
  if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) return 1
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 2
  if ((b[0]! & 0xfe) === 0xfc) return 3
  return 4
}

/** The address bytes of an ip/ip6 entry; undefined when absent or malformed (geth ignores Load errors). */
function ipBytesOf(enr: Enr, key: 'ip' | 'ip6', len: number): Uint8Array | undefined {
  const raw = enr.pairs.get(key)
  if (raw === undefined) return undefined
  try {
    const b = asBytes(rlpDecode(raw))
    return b.length === len ? b : undefined
  } catch {
    return undefined
  }
}

/** Node of a v4 record: id, pubkey and geth's preferred endpoint (most global valid IPv4/IPv6). */
export function enrToNode(enr: Enr): Node {
  const pubkey = enrPublicKey(enr)
  const id = enrNodeId(enr)
  const ip4 = ipBytesOf(enr, 'ip', 4)
  const ip6 = ipBytesOf(enr, 'ip6', 16)
  const valid4 = ip4 !== undefined && !isMulticast(ip4)
  const valid6 = ip6 !== undefined && !isMulticast(ip6)
  let ip: Uint8Array | undefined
  let use6 = false
  if (valid4 && valid6) {
    if (ipLocalityScore(ip4) >= ipLocalityScore(ip6)) ip = ip4
    else [ip, use6] = [ip6, true]
  } else if (valid4) ip = ip4
  else if (valid6) [ip, use6] = [ip6, true]
  if (use6 && isV4Mapped(ip!)) use6 = false // geth setIP6: a 4-in-6 address is used as IPv4
  const tcp = use6 ? (tryGet(enr, 'tcp6') ?? tryGet(enr, 'tcp')) : tryGet(enr, 'tcp')
  const udp = use6 ? (tryGet(enr, 'udp6') ?? tryGet(enr, 'udp')) : tryGet(enr, 'udp')
  const node: Node = { id, pubkey, record: enr }
  if (ip !== undefined) node.ip = formatIp(unmap(ip))
  if (tcp !== undefined) node.tcp = tcp
  if (udp !== undefined) node.udp = udp
  return node
}

// ---- IP text ⇄ bytes (Go net.ParseIP / net.IP.String) ----

function parseIPv4(s: string): Uint8Array | null {
  const parts = s.split('.')
  if (parts.length !== 4) return null
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null // Go rejects leading zeros
    const n = Number(p)
    if (n > 255) return null
    out[i] = n
  }
  return out
}

function parseIPv6(s: string): Uint8Array | null {
  const out = new Uint8Array(16)
  let ellipsis = -1
  let i = 0
  if (s.startsWith('::')) {
    ellipsis = 0
    s = s.slice(2)
    if (s === '') return out
  }
  while (i < 16) {
    const m = /^[0-9a-fA-F]+/.exec(s)
    if (!m) return null
    const field = m[0]
    if (s[field.length] === '.') {
      if ((ellipsis < 0 && i !== 12) || i + 4 > 16) return null
      const v4 = parseIPv4(s)
      if (!v4) return null
      out.set(v4, i)
      i += 4
      s = ''
      break
    }
    if (field.length > 4) return null
    const n = Number.parseInt(field, 16)
    out[i] = n >> 8
    out[i + 1] = n & 0xff
    i += 2
    s = s.slice(field.length)
    if (s === '') break
    if (s[0] !== ':' || s.length === 1) return null
    s = s.slice(1)
    if (s[0] === ':') {
      if (ellipsis >= 0) return null
      ellipsis = i
      s = s.slice(1)
      if (s === '') break
    }
  }
  if (s !== '') return null
  if (i < 16) {
    if (ellipsis < 0) return null
    const n = 16 - i
    out.copyWithin(ellipsis + n, ellipsis, i)
    out.fill(0, ellipsis, ellipsis + n)
  } else if (ellipsis >= 0) return null
  return out
}

/** Go net.ParseIP: dotted IPv4 (4 bytes) or IPv6 text (16 bytes); null when not an IP literal. */
export function parseIp(text: string): Uint8Array | null {
  if (text.includes(':')) return parseIPv6(text)
  return parseIPv4(text)
}

/** Go net.IP.String: dotted IPv4 for 4-byte and IPv4-mapped addresses, RFC 5952 IPv6 otherwise. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return b.join('.')
  if (b.length !== 16) throw new RangeError(`IP address of ${b.length} bytes`)
  if (isV4Mapped(b)) return b.subarray(12).join('.')
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!)
  let zs = -1
  let ze = -1
  for (let i = 0; i < 8; i++) {
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i >= 2 && j - i > ze - zs) [zs, ze] = [i, j]
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':')
  if (zs < 0) return hex(groups)
  return `${hex(groups.slice(0, zs))}::${hex(groups.slice(ze))}`
}
