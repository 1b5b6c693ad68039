// EIP-2124 fork identifier (go-ethereum core/forkid): the [hash(4), next(uint64)] value, its RLP form, the
// ENR `eth` entry around it, and (below) the computation from a chain config and the validation filter.
//
// API
//   ForkId { hash: 4 bytes, next: bigint }
//   encodeForkId(id) / decodeForkId(bytes) / forkIdFromItem(item) / forkIdToItem(id)
//   ChainForks { genesisHash, genesisTime?, blocks, times }   the fork schedule of a chain config
//   gatherForks(config)            geth gatherForks: sorted, de-duplicated; block 0 and times ≤ genesis dropped
//   computeForkId(config, head, time)   geth forkid.NewID
//   newForkIdFilter(config, headFn)     geth forkid.newFilter: (remote) → ForkIdError | null (rules 1–4)
//   ForkIdError { code: 'ErrRemoteStale' | 'ErrLocalIncompatibleOrStale' } with geth's error text
//   checksumUpdate(crc, fork)      CRC32(previous-blob || be64(fork)) via node:zlib crc32 (table fallback)
import * as zlib from 'node:zlib'
import { DecodeError } from './errors.ts'
import { asBigUint, asFixedBytes, asList, type RlpItem, rlpDecode, rlpEncode, uintToBytes } from './rlp.ts'

export interface ForkId {
  /** CRC32 checksum of the genesis hash and passed fork blocks/times, 4 bytes big-endian */
  hash: Uint8Array
  /** block number or timestamp of the next fork, 0 when none is known (uint64) */
  next: bigint
}

/** geth encodes ForkID.Next as uint64. */
const MAX_UINT64 = (1n << 64n) - 1n

/** The RLP item of a fork id: [hash, next]. */
export function forkIdToItem(id: ForkId): RlpItem {
  if (id.hash.length !== 4) throw new RangeError('fork hash must be 4 bytes')
  if (id.next < 0n || id.next > MAX_UINT64) throw new RangeError('fork next must be a uint64')
  return [id.hash, uintToBytes(id.next)]
}

/** Strict decoding of an already-decoded item (geth decodes forkid.ID as a struct: exactly two fields). */
export function forkIdFromItem(item: RlpItem | undefined, what = 'forkid'): ForkId {
  const l = asList(item, what, 2)
  if (l.length !== 2) throw new DecodeError('BAD_MESSAGE', `${what}: input list has too many elements`)
  return { hash: asFixedBytes(l[0], 4, `${what}.hash`), next: asBigUint(l[1], `${what}.next`, 8) }
}

export function encodeForkId(id: ForkId): Uint8Array {
  return rlpEncode(forkIdToItem(id))
}

export function decodeForkId(bytes: Uint8Array): ForkId {
  return forkIdFromItem(rlpDecode(bytes))
}

// ---- computation (EIP-2124; geth core/forkid/forkid.go) ----

/** geth forkid timestampThreshold: mainnet's genesis timestamp; a FORK_NEXT above it is a timestamp. */
export const FORKID_TIMESTAMP_THRESHOLD = 1438269973n

/** geth core/forkid errors. */
export const FORKID_ERRORS = {
  ErrRemoteStale: 'remote needs update',
  ErrLocalIncompatibleOrStale: 'local incompatible or needs update',
} as const

export class ForkIdError extends Error {
  readonly code: keyof typeof FORKID_ERRORS
  constructor(code: keyof typeof FORKID_ERRORS) {
    super(FORKID_ERRORS[code])
    this.name = 'ForkIdError'
    this.code = code
  }
}

/** The fork schedule of a chain: every configured `…Block` and `…Time` activation. */
export interface ChainForks {
  /** 32-byte genesis block hash */
  genesisHash: Uint8Array
  /** genesis block timestamp (time forks at or before it are part of genesis); default 0 */
  genesisTime?: number | bigint
  /** block numbers of block-activated forks (any order, duplicates allowed, 0 = at genesis) */
  blocks: readonly (number | bigint)[]
  /** timestamps of time-activated forks (any order, duplicates allowed) */
  times: readonly (number | bigint)[]
}

const sortedUnique = (xs: readonly (number | bigint)[]): bigint[] =>
  [...new Set(xs.map((x) => BigInt(x)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

/** geth gatherForks: sorted, de-duplicated; block 0 and time forks at or before genesis time skipped. */
export function gatherForks(config: ChainForks): { blocks: bigint[]; times: bigint[] } {
  const genesis = BigInt(config.genesisTime ?? 0)
  const blocks = sortedUnique(config.blocks).filter((b) => b !== 0n)
  const times = sortedUnique(config.times).filter((t) => t > genesis)
  return { blocks, times }
}

const TABLE: Uint32Array | null =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? null
    : (() => {
        const t = new Uint32Array(256)
        for (let n = 0; n < 256; n++) {
          let c = n
          for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
          t[n] = c >>> 0
        }
        return t
      })()

/** CRC32 (IEEE) of `data` continuing from `crc` (node:zlib crc32 since Node 20.15; table otherwise). */
function crc32(data: Uint8Array, crc = 0): number {
  if (TABLE === null) return zlib.crc32(data, crc) >>> 0
  let c = ~crc >>> 0
  for (const b of data) c = TABLE[(c ^ b) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}

/** CRC32(original-blob || be64(fork)) from the previous checksum (geth checksumUpdate). */
export function checksumUpdate(hash: number, fork: bigint): number {
  const blob = new Uint8Array(8)
  new DataView(blob.buffer).setBigUint64(0, BigInt.asUintN(64, fork))
  return crc32(blob, hash)
}

function checksumToBytes(hash: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, hash >>> 0)
  return out
}

function genesisChecksum(config: ChainForks): number {
  if (config.genesisHash.length !== 32) throw new RangeError('genesis hash must be 32 bytes')
  return crc32(config.genesisHash)
}

/** geth forkid.NewID: the fork id at head block number `head` and head timestamp `time`. */
export function computeForkId(config: ChainForks, head: number | bigint, time: number | bigint = 0): ForkId {
  const h = BigInt(head)
  const t = BigInt(time)
  let hash = genesisChecksum(config)
  const { blocks, times } = gatherForks(config)
  for (const fork of blocks) {
    if (fork > h) return { hash: checksumToBytes(hash), next: fork }
    hash = checksumUpdate(hash, fork)
  }
  for (const fork of times) {
    if (fork > t) return { hash: checksumToBytes(hash), next: fork }
    hash = checksumUpdate(hash, fork)
  }
  return { hash: checksumToBytes(hash), next: 0n }
}

/** The local head as geth's filter reads it: block number and timestamp. */
export type ForkHeadFn = () => { block: number | bigint; time: number | bigint }

/** A fork id filter: null to accept the remote id, a ForkIdError to reject it. */
export type ForkIdFilter = (remote: ForkId) => ForkIdError | null

const MAX_U64 = (1n << 64n) - 1n

/** geth forkid.newFilter: validate a remote fork id against the local chain (EIP-2124 rules 1–4). */
export function newForkIdFilter(config: ChainForks, headFn: ForkHeadFn): ForkIdFilter {
  const { blocks, times } = gatherForks(config)
  const forks = [...blocks, ...times]
  let hash = genesisChecksum(config)
  const sums: number[] = [hash]
  for (const fork of forks) {
    hash = checksumUpdate(hash, fork)
    sums.push(hash)
  }
  // sentries: the last fork is never passed; in purely block-based schedules the block list gets it too
  forks.push(MAX_U64)
  const blockCount = times.length === 0 ? blocks.length + 1 : blocks.length
  return (remote) => {
    if (remote.hash.length !== 4) return new ForkIdError('ErrLocalIncompatibleOrStale')
    const remoteSum = new DataView(remote.hash.buffer, remote.hash.byteOffset, 4).getUint32(0)
    const { block: b, time: tm } = headFn()
    const block = BigInt(b)
    const time = BigInt(tm)
    for (let i = 0; i < forks.length; i++) {
      const fork = forks[i]!
      const head = i >= blockCount ? time : block
      if (head >= fork) continue
      // rule 1: same fork state; 1a: a remotely announced fork already passed locally
      if (sums[i] === remoteSum) {
        if (
          remote.next > 0n &&
          (head >= remote.next || (remote.next > FORKID_TIMESTAMP_THRESHOLD && time >= remote.next))
        )
          return new ForkIdError('ErrLocalIncompatibleOrStale')
        return null
      }
      // rule 2: remote is a subset of our past forks and must announce our following fork
      for (let j = 0; j < i; j++) {
        if (sums[j] === remoteSum) return forks[j] !== remote.next ? new ForkIdError('ErrRemoteStale') : null
      }
      // rule 3: remote is a superset (we are syncing)
      for (let j = i + 1; j < sums.length; j++) if (sums[j] === remoteSum) return null
      // rule 4
      return new ForkIdError('ErrLocalIncompatibleOrStale')
    }
    return null // unreachable: the last sentry is never passed (geth logs "Impossible fork ID validation")
  }
}
