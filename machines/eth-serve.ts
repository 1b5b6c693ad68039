// Answering the eth requests from the local chain (go-ethereum eth/protocols/eth/handlers.go:
// ServiceGetBlockHeadersQuery, ServiceGetBlockBodiesQuery, answerGetPooledTransactions; the receipts of eth/68 as
// v1.17.0's ServiceGetReceiptsQuery68, of eth/69 and eth/70 as v1.17.5's ServiceGetReceiptsQuery69 /
// serviceGetReceiptsQuery70; v1.17.5's serviceGetBlockAccessListsQuery), over a synchronous read-only view of the
// chain. Pure: no I/O.
//
// Rules (geth's): an unknown block ends a header walk and is skipped in body / eth/68 receipt / transaction
// lookups (replies are not position-aligned with the request); from eth/69 on, a block without receipts ends the
// receipts reply (replies stay aligned, as eth/70's partial receipts need); a block access list we lack is
// BAL_UNAVAILABLE in its place. A reply stops at 1024 items or 2048 lookups, and once it holds 2 MiB (checked
// before each item, so it may end a little over) — except a contiguous header query (skip 0), which only has the
// 1024 cap. eth/70 receipts: the first block's start at the asked index, and a block whose receipts would take the
// reply past 10 MiB is cut after the last receipt that fits (the reply says lastBlockIncomplete; a block none of
// whose receipts fit is left out). Deviation: the reader knows canonical blocks only, so a by-hash query from a
// side-chain block is answered as for an unknown one (geth answers its ancestors).
//
// API
//   EthChainReader                        the chain as the server reads it (raw RLP in, raw RLP out)
//   serveHeaders(reader, query) / serveBodies(reader, hashes) / serveReceipts(reader, hashes, version) /
//   servePooledTransactions(reader, hashes) / serveBlockAccessLists(reader, hashes) → raw RLP items for the response
//   servePartialReceipts(reader, hashes, firstIndex, version, maxPacketSize?) → { items, incomplete } (eth/70)
import { BAL_UNAVAILABLE, ETH_SERVE, type EthVersion, type HeadersQuery } from '../codecs/eth.ts'
import { rlpDecodeRawList, rlpEncodeRawList } from '../codecs/rlp.ts'

/** What serving needs of the chain; the optional parts answer empty when missing. */
export interface EthChainReader {
  /** the canonical header at `number`, as its hash and its RLP */
  headerByNumber(number: bigint): { hash: Uint8Array; rlp: Uint8Array } | undefined
  /** a canonical header by hash: its number and RLP */
  headerByHash(hash: Uint8Array): { number: bigint; rlp: Uint8Array } | undefined
  /** a block body's RLP ([transactions, uncles, withdrawals?]) */
  body?(hash: Uint8Array): Uint8Array | undefined
  /** the RLP list of a block's receipts in `version`'s encoding (eth/69 and up have no bloom) */
  receipts?(hash: Uint8Array, version: EthVersion): Uint8Array | undefined
  /** a transaction of the pool in its network encoding */
  pooledTransaction?(hash: Uint8Array): Uint8Array | undefined
  /** eth/71: a block's access list (EIP-7928) as RLP */
  blockAccessList?(hash: Uint8Array): Uint8Array | undefined
}

const MAX_U64 = (1n << 64n) - 1n

/** geth ServiceGetBlockHeadersQuery (both its contiguous and non-contiguous paths). */
export function serveHeaders(reader: EthChainReader, q: HeadersQuery): Uint8Array[] {
  const out: Uint8Array[] = []
  if (q.amount === 0n) return out
  let number: bigint
  if ('hash' in q.origin) {
    const h = reader.headerByHash(q.origin.hash)
    if (h === undefined) return out
    number = h.number
  } else number = q.origin.number
  const contiguous = q.skip === 0n
  const step = q.skip + 1n
  let bytes = 0
  let lookups = 0
  while (BigInt(out.length) < q.amount && out.length < ETH_SERVE.maxHeaders) {
    if (!contiguous && (bytes >= ETH_SERVE.softResponseLimit || lookups >= ETH_SERVE.maxLookups)) break
    lookups++
    const h = reader.headerByNumber(number)
    if (h === undefined) break
    out.push(h.rlp)
    bytes += h.rlp.length
    // the next origin; underflow or overflow ends the walk (geth logs an overflow as an attack)
    if (q.reverse) {
      if (number < step) break
      number -= step
    } else {
      if (number > MAX_U64 - step) break
      number += step
    }
  }
  return out
}

/** Items for `hashes` from `lookup`, skipping unknown ones, within the item, lookup and byte limits. */
function serveByHash(
  hashes: readonly Uint8Array[],
  maxItems: number,
  lookup: ((h: Uint8Array) => Uint8Array | undefined) | undefined,
  maxLookups: number = ETH_SERVE.maxLookups,
): Uint8Array[] {
  const out: Uint8Array[] = []
  if (lookup === undefined) return out
  let bytes = 0
  let lookups = 0
  for (const h of hashes) {
    if (bytes >= ETH_SERVE.softResponseLimit || out.length >= maxItems || lookups >= maxLookups) break
    lookups++
    const item = lookup(h)
    if (item === undefined) continue
    out.push(item)
    bytes += item.length
  }
  return out
}

export function serveBodies(reader: EthChainReader, hashes: readonly Uint8Array[]): Uint8Array[] {
  return serveByHash(hashes, ETH_SERVE.maxBodies, reader.body?.bind(reader))
}

export function serveReceipts(
  reader: EthChainReader,
  hashes: readonly Uint8Array[],
  version: EthVersion,
): Uint8Array[] {
  const r = reader.receipts
  if (r === undefined) return []
  if (version === 68) return serveByHash(hashes, ETH_SERVE.maxReceipts, (h) => r.call(reader, h, version))
  // eth/69 and up: a block without receipts ends the reply
  const out: Uint8Array[] = []
  let bytes = 0
  for (const h of hashes) {
    if (bytes >= ETH_SERVE.softResponseLimit || out.length >= ETH_SERVE.maxReceipts) break
    const item = r.call(reader, h, version)
    if (item === undefined) break
    out.push(item)
    bytes += item.length
  }
  return out
}

/**
 * geth serviceGetReceiptsQuery70: like eth/69's, but the first block's receipts start at `firstIndex`, and a block
 * whose receipts would take the reply past maxPacketSize (10 MiB) is cut after the last one that fits, which ends
 * the reply with `incomplete`. A block none of whose receipts fit is left out (the reply ends complete before it).
 * `maxPacketSize` is geth's constant; tests pass a smaller one to cut blocks often.
 */
export function servePartialReceipts(
  reader: EthChainReader,
  hashes: readonly Uint8Array[],
  firstIndex: bigint,
  version: EthVersion,
  maxPacketSize: number = ETH_SERVE.maxPacketSize,
): { items: Uint8Array[]; incomplete: boolean } {
  const items: Uint8Array[] = []
  const r = reader.receipts
  if (r === undefined) return { items, incomplete: false }
  let bytes = 0
  for (let i = 0; i < hashes.length; i++) {
    if (bytes >= ETH_SERVE.softResponseLimit || items.length >= ETH_SERVE.maxReceipts) break
    const list = r.call(reader, hashes[i]!, version)
    if (list === undefined) break
    const receipts = rlpDecodeRawList(list)
    const first = i === 0 ? firstIndex : 0n
    const limit = maxPacketSize - bytes
    // geth counts the receipts it re-encodes, not the list's own header
    let size = 0
    let from = receipts.length
    let to = receipts.length
    for (let j = 0; j < receipts.length; j++) {
      if (BigInt(j) < first) continue
      if (from === receipts.length) from = j
      const n = receipts[j]!.length
      if (size + n > limit) {
        to = j
        break
      }
      size += n
    }
    // the first receipt asked for does not fit: the reply ends here
    if (to === from && from < receipts.length) break
    const item = from === 0 && to === receipts.length ? list : rlpEncodeRawList(receipts.slice(from, to))
    items.push(item)
    bytes += item.length
    if (to < receipts.length) return { items, incomplete: true }
  }
  return { items, incomplete: false }
}

/** geth serviceGetBlockAccessListsQuery: one item per hash, BAL_UNAVAILABLE for those we lack. */
export function serveBlockAccessLists(reader: EthChainReader, hashes: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let bytes = 0
  for (const h of hashes) {
    if (bytes >= ETH_SERVE.softResponseLimit || out.length >= ETH_SERVE.maxBlockAccessLists) break
    const bal = reader.blockAccessList?.(h)
    if (bal === undefined || bal.length === 0) {
      out.push(BAL_UNAVAILABLE)
      continue
    }
    out.push(bal)
    bytes += bal.length
  }
  return out
}

/** geth answerGetPooledTransactions: the byte limit only. */
export function servePooledTransactions(reader: EthChainReader, hashes: readonly Uint8Array[]): Uint8Array[] {
  const all = Number.MAX_SAFE_INTEGER
  return serveByHash(hashes, all, reader.pooledTransaction?.bind(reader), all)
}
