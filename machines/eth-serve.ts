// Answering the eth requests from the local chain (go-ethereum eth/protocols/eth/handlers.go, v1.17.0:
// ServiceGetBlockHeadersQuery, ServiceGetBlockBodiesQuery, ServiceGetReceiptsQuery68/69,
// answerGetPooledTransactions), over a synchronous read-only view of the chain. Pure: no I/O.
//
// Rules (geth's): an unknown block ends a header walk and is skipped in body / receipt / transaction lookups
// (replies are not position-aligned with the request); a reply stops at 1024 items or 2048 lookups, and once it
// holds 2 MiB (checked before each item, so it may end a little over) — except a contiguous header query
// (skip 0), which only has the 1024 cap. Deviation: the reader knows canonical blocks only, so a by-hash query
// from a side-chain block is answered as for an unknown one (geth answers its ancestors).
//
// API
//   EthChainReader                        the chain as the server reads it (raw RLP in, raw RLP out)
//   serveHeaders(reader, query) / serveBodies(reader, hashes) / serveReceipts(reader, hashes, version) /
//   servePooledTransactions(reader, hashes) → raw RLP items for the response
import { ETH_SERVE, type EthVersion, type HeadersQuery } from '../codecs/eth.ts'

/** What serving needs of the chain; the optional parts answer empty when missing. */
export interface EthChainReader {
  /** the canonical header at `number`, as its hash and its RLP */
  headerByNumber(number: bigint): { hash: Uint8Array; rlp: Uint8Array } | undefined
  /** a canonical header by hash: its number and RLP */
  headerByHash(hash: Uint8Array): { number: bigint; rlp: Uint8Array } | undefined
  /** a block body's RLP ([transactions, uncles, withdrawals?]) */
  body?(hash: Uint8Array): Uint8Array | undefined
  /** the RLP list of a block's receipts in `version`'s encoding (eth/69 has no bloom) */
  receipts?(hash: Uint8Array, version: EthVersion): Uint8Array | undefined
  /** a transaction of the pool in its network encoding */
  pooledTransaction?(hash: Uint8Array): Uint8Array | undefined
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
  return serveByHash(hashes, ETH_SERVE.maxReceipts, r && ((h) => r.call(reader, h, version)))
}

/** geth answerGetPooledTransactions: the byte limit only. */
export function servePooledTransactions(reader: EthChainReader, hashes: readonly Uint8Array[]): Uint8Array[] {
  const all = Number.MAX_SAFE_INTEGER
  return serveByHash(hashes, all, reader.pooledTransaction?.bind(reader), all)
}
