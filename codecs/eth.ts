// The eth wire protocol's message codes, versions and messages (go-ethereum eth/protocols/eth/protocol.go: eth/68
// as v1.17.0 speaks it, the last geth release with it; eth/69–72 as v1.17.5 does). Pure.
//
// | version | Status fields (in order)                                                              | length |
// |---------|---------------------------------------------------------------------------------------|--------|
// | eth/68  | [version uint32, networkId uint64, td uint256, head hash32, genesis hash32, forkId]     | 17     |
// | eth/69  | [version uint32, networkId uint64, genesis hash32, forkId, earliest uint64, latest uint64, latestHash hash32] | 18 |
// | eth/70  | as eth/69; GetReceipts [id, firstBlockReceiptIndex, [hash…]], Receipts [id, lastBlockIncomplete, [list…]] (EIP-7975) | 18 |
// | eth/71  | as eth/70; + GetBlockAccessLists [id, [hash…]] / BlockAccessLists [id, [bal…]] (0x12 / 0x13, EIP-8159) | 20 |
// | eth/72  | as eth/71; NewPooledTransactionHashes [types, sizes, hashes, mask bytes16]; + GetCells [id, [[hash…], mask]] / Cells [id, [[hash…], [[cell…]…], mask]] (0x14 / 0x15) | 22 |
//
// Decoding is as strict as geth's RLP struct decoder (no optional or tail fields): a missing or an extra field,
// a non-canonical or too long integer, or a hash of the wrong length is a DecodeError.
//
// API
//   ETH_MSG, ETH_VERSIONS, ETH_PROTOCOL_LENGTH, ETH_MAX_MESSAGE_SIZE, ETH_HANDSHAKE_TIMEOUT_MS
//   EthStatus = EthStatus68 | EthStatus69
//   encodeStatus(layout, status) → payload; decodeStatus(layout, payload) → status (throws DecodeError);
//   `layout` is the negotiated version (68, or 69 and up), which decides the fields
//   blockRangeError(earliest, latest, latestHash) → geth BlockRangeUpdatePacket.Validate's text, or null
//   Requests and responses (eth/66+: [requestId uint64, body]):
//   encodeGetBlockHeaders / decodeGetBlockHeaders      [id, [origin hash32 | number, amount, skip, reverse]]
//   encodeHashesRequest / decodeHashesRequest          [id, [hash32…]] (GetBlockBodies, GetReceipts, GetPooledTransactions)
//   encodeRawResponse / decodeRawResponse              [id, [item…]] with each item kept as its raw RLP (headers,
//                                                      bodies, receipts, transactions: the application decodes them)
//   encodeGetReceipts70 / decodeGetReceipts70          eth/70 [id, firstBlockReceiptIndex, [hash32…]]
//   encodeReceipts70 / decodeReceipts70                eth/70 [id, lastBlockIncomplete bool, [receipt list…]]
//   encodeGetCells / decodeGetCells, encodeCells / decodeCells   eth/72 (cells of blob transactions)
//   encodeBlockRange / decodeBlockRange                eth/69 BlockRangeUpdate [earliest, latest, latestHash]
//   BAL_UNAVAILABLE                                    eth/71: a BlockAccessLists item saying "not available" (0x80)
//   Transactions: encodeTransactions / decodeTransactions (items in network encoding), transactionInfo(item) →
//   { hash, type, size }, encodePooledTxHashes / decodePooledTxHashes (eth/68+ [types, sizes, hashes]; eth/72 adds
//   the custody mask)
import { keccak256 } from '../crypto/keccak.ts'
import { DecodeError } from './errors.ts'
import { type ForkId, forkIdFromItem, forkIdToItem } from './forkid.ts'
import {
  asBigUint,
  asBytes,
  asFixedBytes,
  asList,
  type RlpItem,
  rlpDecode,
  rlpDecodeRawList,
  rlpEncode,
  rlpEncodeRawList,
  uintToBytes,
} from './rlp.ts'

/** geth eth/protocols/eth/protocol.go message codes (eth/66 and later; 0x01 and 0x07 are gone in eth/69). */
export const ETH_MSG = {
  status: 0x00,
  newBlockHashes: 0x01,
  transactions: 0x02,
  getBlockHeaders: 0x03,
  blockHeaders: 0x04,
  getBlockBodies: 0x05,
  blockBodies: 0x06,
  newBlock: 0x07,
  newPooledTransactionHashes: 0x08,
  getPooledTransactions: 0x09,
  pooledTransactions: 0x0a,
  getReceipts: 0x0f,
  receipts: 0x10,
  /** eth/69 */
  blockRangeUpdate: 0x11,
  /** eth/71 (EIP-8159) */
  getBlockAccessLists: 0x12,
  blockAccessLists: 0x13,
  /** eth/72 */
  getCells: 0x14,
  cells: 0x15,
} as const

/**
 * The versions we speak, highest first: geth v1.17.5's ProtocolVersions (72, 71, 70, 69) and eth/68, which geth
 * v1.17.0 still spoke and other clients (@ethereumjs/devp2p) still do.
 */
export const ETH_VERSIONS = [72, 71, 70, 69, 68] as const
export type EthVersion = (typeof ETH_VERSIONS)[number]

/** geth protocolLengths: message codes per version. */
export const ETH_PROTOCOL_LENGTH: Record<EthVersion, number> = { 68: 17, 69: 18, 70: 18, 71: 20, 72: 22 }

/** geth eth maxMessageSize: 10 MiB. */
export const ETH_MAX_MESSAGE_SIZE = 10 * 1024 * 1024

/** geth eth handshakeTimeout: one deadline for sending ours and reading theirs. */
export const ETH_HANDSHAKE_TIMEOUT_MS = 5_000

export interface EthStatus68 {
  /** the protocol version field as sent (the handshake compares it with the negotiated version) */
  version: number
  networkId: bigint
  /** total difficulty (geth sends 0 and ignores the remote's) */
  td: bigint
  /** head block hash (ignored by geth on receipt) */
  head: Uint8Array
  genesis: Uint8Array
  forkId: ForkId
}

export interface EthStatus69 {
  /** the protocol version field as sent (the handshake compares it with the negotiated version) */
  version: number
  networkId: bigint
  genesis: Uint8Array
  forkId: ForkId
  /** the oldest block whose history (bodies, receipts) this node serves */
  earliest: bigint
  latest: bigint
  latestHash: Uint8Array
}

export type EthStatus = EthStatus68 | EthStatus69

const MAX_U64 = (1n << 64n) - 1n

function u64(n: bigint, what: string): Uint8Array {
  if (n < 0n || n > MAX_U64) throw new RangeError(`${what} must be a uint64`)
  return uintToBytes(n)
}

function u32(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError('version must be a uint32')
  return uintToBytes(n)
}

function hash32(h: Uint8Array, what: string): Uint8Array {
  if (h.length !== 32) throw new RangeError(`${what} must be 32 bytes`)
  return h
}

/** Status with its fields laid out as `layout` (the negotiated version) has them: eth/69 and up share one. */
export type StatusOf<V extends EthVersion> = V extends 68 ? EthStatus68 : EthStatus69

/** The Status payload (RLP) in the negotiated version's layout. */
export function encodeStatus<V extends EthVersion>(layout: V, status: StatusOf<V>): Uint8Array {
  if (layout === 68) {
    const s = status as EthStatus68
    if (s.td < 0n || s.td >= 1n << 256n) throw new RangeError('td must be a uint256')
    return rlpEncode([
      u32(s.version),
      u64(s.networkId, 'networkId'),
      uintToBytes(s.td),
      hash32(s.head, 'head'),
      hash32(s.genesis, 'genesis'),
      forkIdToItem(s.forkId),
    ])
  }
  const s = status as EthStatus69
  return rlpEncode([
    u32(s.version),
    u64(s.networkId, 'networkId'),
    hash32(s.genesis, 'genesis'),
    forkIdToItem(s.forkId),
    u64(s.earliest, 'earliest'),
    u64(s.latest, 'latest'),
    hash32(s.latestHash, 'latestHash'),
  ])
}

/**
 * Decode a Status payload as the negotiated `version` lays it out (geth decodes into that version's packet; the
 * version field inside is compared with the negotiated one by the handshake, not here). Copies the hashes.
 */
export function decodeStatus<V extends EthVersion>(layout: V, payload: Uint8Array): StatusOf<V> {
  const fields = layout === 68 ? 6 : 7
  const l = asList(rlpDecode(payload), `eth/${layout} status`, fields)
  if (l.length > fields)
    throw new DecodeError('BAD_MESSAGE', `eth/${layout} status: input list has too many elements`, {
      fields: l.length,
    })
  const version = Number(asBigUint(l[0], 'status.version', 4))
  const networkId = asBigUint(l[1], 'status.networkId', 8)
  if (layout === 68)
    return {
      version,
      networkId,
      td: asBigUint(l[2], 'status.td', 32),
      head: asFixedBytes(l[3], 32, 'status.head').slice(),
      genesis: asFixedBytes(l[4], 32, 'status.genesis').slice(),
      forkId: copyForkId(forkIdFromItem(l[5], 'status.forkId')),
    } satisfies EthStatus68 as StatusOf<V>
  return {
    version,
    networkId,
    genesis: asFixedBytes(l[2], 32, 'status.genesis').slice(),
    forkId: copyForkId(forkIdFromItem(l[3], 'status.forkId')),
    earliest: asBigUint(l[4], 'status.earliest', 8),
    latest: asBigUint(l[5], 'status.latest', 8),
    latestHash: asFixedBytes(l[6], 32, 'status.latestHash').slice(),
  } satisfies EthStatus69 as StatusOf<V>
}

const copyForkId = (f: ForkId): ForkId => ({ hash: f.hash.slice(), next: f.next })

/** geth BlockRangeUpdatePacket.Validate (eth/69 Status and BlockRangeUpdate): its error text, or null. */
export function blockRangeError(earliest: bigint, latest: bigint, latestHash: Uint8Array): string | null {
  if (earliest > latest) return 'earliest > latest'
  if (latestHash.every((b) => b === 0)) return 'zero latest hash'
  return null
}

// ---- requests and responses (eth/66 and later) ----

/** geth eth handlers.go serving limits. */
export const ETH_SERVE = {
  /** softResponseLimit: a reply stops growing once it is this large */
  softResponseLimit: 2 * 1024 * 1024,
  maxHeaders: 1024,
  maxBodies: 1024,
  maxReceipts: 1024,
  /** lookups per request (geth: 2 × the item limit) */
  maxLookups: 2048,
  /** eth/71 maxBALsServe */
  maxBlockAccessLists: 1024,
  /** eth/70 maxPacketSize: the size a partial Receipts reply stays under (geth handler.go) */
  maxPacketSize: 10 * 1024 * 1024,
} as const

/** geth HashOrNumber: a 32-byte block hash or a block number. */
export type HashOrNumber = { hash: Uint8Array } | { number: bigint }

/** geth GetBlockHeadersRequest. */
export interface HeadersQuery {
  origin: HashOrNumber
  amount: bigint
  skip: bigint
  reverse: boolean
}

export function encodeGetBlockHeaders(id: bigint, q: HeadersQuery): Uint8Array {
  const origin = 'hash' in q.origin ? hash32(q.origin.hash, 'origin') : u64(q.origin.number, 'origin')
  return rlpEncode([
    u64(id, 'request id'),
    [origin, u64(q.amount, 'amount'), u64(q.skip, 'skip'), q.reverse ? Uint8Array.of(1) : new Uint8Array(0)],
  ])
}

function exactly(l: unknown[], n: number, what: string): void {
  if (l.length > n) throw new DecodeError('BAD_MESSAGE', `${what}: input list has too many elements`)
}

/** The hashes of a request or announcement as RLP items (each 32 bytes), and back (copies). */
const hashItems = (hashes: readonly Uint8Array[]) => hashes.map((h, i) => hash32(h, `hash ${i}`))
const hashList = (item: RlpItem | undefined, what: string): Uint8Array[] =>
  asList(item, what).map((h, i) => asFixedBytes(h, 32, `${what}[${i}]`).slice())

/**
 * geth's `[RequestId, embedded struct]` packets: the request id and the struct's `n` fields, exactly (`what`.`part`
 * names the struct in errors).
 */
function withRequestId(
  payload: Uint8Array,
  what: string,
  part: string,
  n: number,
): { id: bigint; fields: RlpItem[] } {
  const l = asList(rlpDecode(payload), what, 2)
  exactly(l, 2, what)
  const fields = asList(l[1], `${what}.${part}`, n)
  exactly(fields, n, `${what}.${part}`)
  return { id: asBigUint(l[0], 'request id', 8), fields }
}

export function decodeGetBlockHeaders(payload: Uint8Array): { id: bigint; query: HeadersQuery } {
  const { id, fields: q } = withRequestId(payload, 'GetBlockHeaders', 'query', 4)
  const o = asBytes(q[0], 'origin')
  let origin: HashOrNumber
  if (o.length === 32) origin = { hash: o.slice() }
  else if (o.length <= 8) origin = { number: asBigUint(o, 'origin', 8) }
  else throw new DecodeError('BAD_MESSAGE', `invalid input size ${o.length} for origin`)
  const r = asBigUint(q[3], 'reverse', 1)
  if (r > 1n) throw new DecodeError('BAD_MESSAGE', `reverse: invalid boolean value ${r}`)
  return {
    id,
    query: {
      origin,
      amount: asBigUint(q[1], 'amount', 8),
      skip: asBigUint(q[2], 'skip', 8),
      reverse: r === 1n,
    },
  }
}

export function encodeHashesRequest(id: bigint, hashes: readonly Uint8Array[]): Uint8Array {
  return rlpEncode([u64(id, 'request id'), hashItems(hashes)])
}

export function decodeHashesRequest(
  payload: Uint8Array,
  what = 'request',
): { id: bigint; hashes: Uint8Array[] } {
  const l = asList(rlpDecode(payload), what, 2)
  exactly(l, 2, what)
  return {
    id: asBigUint(l[0], 'request id', 8),
    hashes: hashList(l[1], `${what}.hashes`),
  }
}

/** A response whose items are already RLP-encoded (headers, bodies, receipts lists, transactions). */
export function encodeRawResponse(id: bigint, items: readonly Uint8Array[]): Uint8Array {
  return rlpEncodeRawList([rlpEncode(u64(id, 'request id')), rlpEncodeRawList(items)])
}

/** A response's id and its items, each as its raw RLP (views into `payload`; the whole payload is validated). */
export function decodeRawResponse(
  payload: Uint8Array,
  what = 'response',
): { id: bigint; items: Uint8Array[] } {
  const l = rlpDecodeRawList(payload)
  if (l.length < 2)
    throw new DecodeError('RLP_TOO_FEW_ELEMENTS', `${what}: expected ≥ 2 elements, got ${l.length}`)
  exactly(l, 2, what)
  return { id: asBigUint(rlpDecode(l[0]!), 'request id', 8), items: rlpDecodeRawList(l[1]!) }
}

/** An RLP bool as geth's decoder takes it: 0x80 false, 0x01 true, anything else an error. */
function asBool(item: RlpItem | undefined, what: string): boolean {
  const b = asBigUint(item, what, 1)
  if (b > 1n) throw new DecodeError('BAD_MESSAGE', `${what}: invalid boolean value ${b}`)
  return b === 1n
}

const boolItem = (b: boolean) => (b ? Uint8Array.of(1) : new Uint8Array(0))

/** eth/70 GetReceipts: the receipts of `hashes`, the first block's from its `firstIndex`-th on (EIP-7975). */
export function encodeGetReceipts70(
  id: bigint,
  firstIndex: bigint,
  hashes: readonly Uint8Array[],
): Uint8Array {
  return rlpEncode([u64(id, 'request id'), u64(firstIndex, 'firstBlockReceiptIndex'), hashItems(hashes)])
}

export function decodeGetReceipts70(payload: Uint8Array): {
  id: bigint
  firstIndex: bigint
  hashes: Uint8Array[]
} {
  const l = asList(rlpDecode(payload), 'GetReceipts', 3)
  exactly(l, 3, 'GetReceipts')
  return {
    id: asBigUint(l[0], 'request id', 8),
    firstIndex: asBigUint(l[1], 'firstBlockReceiptIndex', 8),
    hashes: hashList(l[2], 'GetReceipts.hashes'),
  }
}

/** eth/70 Receipts: the receipt lists (raw RLP), the last one cut short when `incomplete`. */
export function encodeReceipts70(id: bigint, incomplete: boolean, lists: readonly Uint8Array[]): Uint8Array {
  return rlpEncodeRawList([
    rlpEncode(u64(id, 'request id')),
    rlpEncode(boolItem(incomplete)),
    rlpEncodeRawList(lists),
  ])
}

/** The lists are views into `payload`; the whole payload is validated as RLP. */
export function decodeReceipts70(payload: Uint8Array): {
  id: bigint
  incomplete: boolean
  items: Uint8Array[]
} {
  const l = rlpDecodeRawList(payload)
  if (l.length < 3)
    throw new DecodeError('RLP_TOO_FEW_ELEMENTS', `Receipts: expected 3 elements, got ${l.length}`)
  exactly(l, 3, 'Receipts')
  return {
    id: asBigUint(rlpDecode(l[0]!), 'request id', 8),
    incomplete: asBool(rlpDecode(l[1]!), 'lastBlockIncomplete'),
    items: rlpDecodeRawList(l[2]!),
  }
}

/** eth/71: the BlockAccessLists item of a block whose access list the server does not have (RLP empty string). */
export const BAL_UNAVAILABLE = Uint8Array.of(0x80)

/** eth/72 types.CustodyBitmap: which of the 128 cell columns (bit i of byte i / 8). */
export const CUSTODY_MASK_SIZE = 16
/** eth/72 kzg4844.Cell: one cell of a blob. */
export const CELL_SIZE = 2048

function mask16(m: Uint8Array): Uint8Array {
  if (m.length !== CUSTODY_MASK_SIZE) throw new RangeError(`mask must be ${CUSTODY_MASK_SIZE} bytes`)
  return m
}

/** eth/72 GetCells: the cells in `mask`'s columns of the blob transactions `hashes`. */
export interface CellsQuery {
  hashes: Uint8Array[]
  mask: Uint8Array
}

export function encodeGetCells(id: bigint, q: CellsQuery): Uint8Array {
  return rlpEncode([u64(id, 'request id'), [hashItems(q.hashes), mask16(q.mask)]])
}

export function decodeGetCells(payload: Uint8Array): { id: bigint; query: CellsQuery } {
  const { id, fields: q } = withRequestId(payload, 'GetCells', 'query', 2)
  return {
    id,
    query: {
      hashes: hashList(q[0], 'GetCells.hashes'),
      mask: asFixedBytes(q[1], CUSTODY_MASK_SIZE, 'mask').slice(),
    },
  }
}

/** eth/72 Cells: per transaction its cells (each CELL_SIZE bytes), and the columns they are. */
export interface CellsResponse {
  hashes: Uint8Array[]
  cells: Uint8Array[][]
  mask: Uint8Array
}

export function encodeCells(id: bigint, r: CellsResponse): Uint8Array {
  const cells = r.cells.map((list, i) =>
    list.map((c, j) => {
      if (c.length !== CELL_SIZE) throw new RangeError(`cell ${i}/${j} must be ${CELL_SIZE} bytes`)
      return c
    }),
  )
  return rlpEncode([u64(id, 'request id'), [hashItems(r.hashes), cells, mask16(r.mask)]])
}

export function decodeCells(payload: Uint8Array): { id: bigint; response: CellsResponse } {
  const { id, fields: r } = withRequestId(payload, 'Cells', 'response', 3)
  return {
    id,
    response: {
      hashes: hashList(r[0], 'Cells.hashes'),
      cells: asList(r[1], 'Cells.cells').map((list, i) =>
        asList(list, `Cells.cells[${i}]`).map((c, j) =>
          asFixedBytes(c, CELL_SIZE, `Cells.cells[${i}][${j}]`).slice(),
        ),
      ),
      mask: asFixedBytes(r[2], CUSTODY_MASK_SIZE, 'mask').slice(),
    },
  }
}

/** eth/69 BlockRangeUpdate. */
export interface BlockRange {
  earliest: bigint
  latest: bigint
  latestHash: Uint8Array
}

export function encodeBlockRange(r: BlockRange): Uint8Array {
  return rlpEncode([u64(r.earliest, 'earliest'), u64(r.latest, 'latest'), hash32(r.latestHash, 'latestHash')])
}

export function decodeBlockRange(payload: Uint8Array): BlockRange {
  const l = asList(rlpDecode(payload), 'BlockRangeUpdate', 3)
  exactly(l, 3, 'BlockRangeUpdate')
  return {
    earliest: asBigUint(l[0], 'earliest', 8),
    latest: asBigUint(l[1], 'latest', 8),
    latestHash: asFixedBytes(l[2], 32, 'latestHash').slice(),
  }
}

// ---- transactions (eth/68 and later) ----

/** geth eth maxTransactionAnnouncements: Transactions messages carry at most this many. */
export const ETH_MAX_TX_ANNOUNCEMENTS = 5000
/** geth txMaxBroadcastSize: larger transactions are announced, never sent whole unasked. */
export const ETH_TX_MAX_BROADCAST_SIZE = 4096
/** geth maxTxPacketSize: a Transactions or announcement batch stops growing at this size. */
export const ETH_MAX_TX_PACKET_SIZE = 100 * 1024
/** EIP-4844 blob transactions (type 3) are only ever announced. */
export const BLOB_TX_TYPE = 3

/** A Transactions message: the transactions in their network encoding (legacy: a list; typed: type || payload). */
export function encodeTransactions(txs: readonly Uint8Array[]): Uint8Array {
  return rlpEncodeRawList(txs)
}

/** The raw items of a Transactions message (views into `payload`; validated as RLP). */
export function decodeTransactions(payload: Uint8Array): Uint8Array[] {
  return rlpDecodeRawList(payload)
}

/**
 * A transaction's hash, type and size from its network encoding as a list item: a legacy transaction is an RLP
 * list (hash = keccak256 of it, type 0); a typed one is an RLP string holding type || payload (hash = keccak256 of
 * that content). The size is geth's tx.Size(): the encoding without the outer string header for typed ones.
 */
export function transactionInfo(item: Uint8Array): { hash: Uint8Array; type: number; size: number } {
  if (item.length === 0) throw new DecodeError('RLP_INVALID', 'empty transaction')
  if (item[0]! >= 0xc0) return { hash: keccak256(item), type: 0, size: item.length }
  const content = asBytes(rlpDecode(item), 'transaction')
  if (content.length === 0 || content[0]! >= 0x80)
    throw new DecodeError('BAD_MESSAGE', 'typed transaction: bad type byte')
  return { hash: keccak256(content), type: content[0]!, size: content.length }
}

/**
 * NewPooledTransactionHashes: the three lists (their lengths are checked by the receiver, as geth does); on eth/72
 * also the custody mask (geth sets the columns its blob transactions in the batch hold; all zero without any).
 */
export interface PooledTxHashes {
  types: Uint8Array
  sizes: number[]
  hashes: Uint8Array[]
  /** eth/72 only */
  mask?: Uint8Array
}

/** The announcement as `version` lays it out: eth/72 carries the mask (all zero when `a` has none). */
export function encodePooledTxHashes(a: PooledTxHashes, version: EthVersion = 68): Uint8Array {
  const lists = [a.types, a.sizes.map((n) => uintToBytes(n)), hashItems(a.hashes)]
  if (version >= 72) lists.push(a.mask ? mask16(a.mask) : new Uint8Array(CUSTODY_MASK_SIZE))
  return rlpEncode(lists)
}

export function decodePooledTxHashes(payload: Uint8Array, version: EthVersion = 68): PooledTxHashes {
  const fields = version >= 72 ? 4 : 3
  const l = asList(rlpDecode(payload), 'NewPooledTransactionHashes', fields)
  exactly(l, fields, 'NewPooledTransactionHashes')
  return {
    types: asBytes(l[0], 'types').slice(),
    sizes: asList(l[1], 'sizes').map((x, i) => Number(asBigUint(x, `sizes[${i}]`, 4))),
    hashes: hashList(l[2], 'hashes'),
    ...(fields === 4 && { mask: asFixedBytes(l[3], CUSTODY_MASK_SIZE, 'mask').slice() }),
  }
}
