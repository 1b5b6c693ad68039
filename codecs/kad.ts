// Kademlia distance metrics over node ids (discv4 spec "Kademlia table"; geth p2p/enode/node.go LogDist /
// DistCmp, p2p/discover/node.go nodesByDistance). Ids are already keccak256(pubkey), so no hashing here.
import type { NodeId } from './node.ts'

/** Number of bits in a node id (geth `hashBits`). */
export const ID_BITS = 256

/**
 * Logarithmic distance log2(a XOR b) as geth's `enode.LogDist`: 256 minus the number of leading bits
 * a and b share; 0 for equal ids, 256 when the first bit differs.
 */
export function logDist(a: NodeId, b: NodeId): number {
  let lz = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! ^ b[i]!
    if (x === 0) {
      lz += 8
    } else {
      lz += Math.clz32(x) - 24
      break
    }
  }
  return a.length * 8 - lz
}

/**
 * Compare the distances a→target and b→target (geth `enode.DistCmp`): -1 when a is closer,
 * 1 when b is closer, 0 when equal (a and b are the same id).
 */
export function distCmp(target: NodeId, a: NodeId, b: NodeId): -1 | 0 | 1 {
  for (let i = 0; i < target.length; i++) {
    const da = a[i]! ^ target[i]!
    const db = b[i]! ^ target[i]!
    if (da > db) return 1
    if (da < db) return -1
  }
  return 0
}

/**
 * Insert `n` into `list` (kept sorted by distance to `target`, closest first), keeping at most `max`
 * entries — geth's `nodesByDistance.push`. Returns true when the node was kept. The caller dedupes.
 */
export function pushByDistance<N extends { id: NodeId }>(
  list: N[],
  n: N,
  target: NodeId,
  max: number,
): boolean {
  // binary search for the first entry farther than n
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (distCmp(target, list[mid]!.id, n.id) > 0) hi = mid
    else lo = mid + 1
  }
  if (lo >= max) return false
  list.splice(lo, 0, n)
  if (list.length > max) list.length = max
  return true
}

/** The `k` nodes of `nodes` closest to `target`, closest first (duplicates by id are dropped). */
export function closest<N extends { id: NodeId }>(target: NodeId, nodes: Iterable<N>, k: number): N[] {
  const out: N[] = []
  const seen = new Set<string>()
  for (const n of nodes) {
    const key = idKey(n.id)
    if (seen.has(key)) continue
    seen.add(key)
    pushByDistance(out, n, target, k)
  }
  return out
}

/** A map key for a node id (lowercase hex). */
export function idKey(id: NodeId): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
}

/** Kademlia concurrency factor (geth p2p/discover/table.go `alpha`). */
export const ALPHA = 3
/** Kademlia bucket size, also the lookup result size (geth `bucketSize`). */
export const BUCKET_SIZE = 16
