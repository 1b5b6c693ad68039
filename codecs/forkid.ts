// EIP-2124 fork identifier (go-ethereum core/forkid): the [hash(4), next(uint64)] value, its RLP form, the
// ENR `eth` entry around it, and (below) the computation from a chain config and the validation filter.
//
// API
//   ForkId { hash: 4 bytes, next: bigint }
//   encodeForkId(id) / decodeForkId(bytes) / forkIdFromItem(item) / forkIdToItem(id)
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
