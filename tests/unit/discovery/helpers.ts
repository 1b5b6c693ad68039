// Test helpers for the discovery table / lookup tests: synthetic nodes with chosen ids, distances and IPs.
import { randomBytes } from 'node:crypto'
import type { Node, NodeId } from '../../../codecs/node.ts'

/** A synthetic node (random pubkey; the id is given, not derived — the table only looks at ids). */
export function fakeNode(id: NodeId, ip = '10.0.0.1', udp = 30303, seq?: bigint): Node {
  const n: Node = { id, pubkey: new Uint8Array(randomBytes(64)), ip, udp, tcp: udp }
  if (seq !== undefined) n.record = { seq } as unknown as Node['record']
  return n
}

export function randomId(): NodeId {
  return new Uint8Array(randomBytes(32))
}

/** An id at log distance `d` (1..256) from `base`: same first 256-d bits, bit 256-d flipped, rest random. */
export function idAtDistance(base: NodeId, d: number): NodeId {
  const id = new Uint8Array(randomBytes(32))
  const flip = 256 - d // index of the first differing bit
  for (let bit = 0; bit < 256; bit++) {
    const byte = bit >> 3
    const mask = 0x80 >> (bit & 7)
    if (bit < flip) id[byte] = (id[byte]! & ~mask) | (base[byte]! & mask)
    else if (bit === flip) id[byte] = (id[byte]! & ~mask) | (~base[byte]! & mask)
  }
  return id
}

export function toBig(id: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(id).toString('hex') || '0'}`)
}
