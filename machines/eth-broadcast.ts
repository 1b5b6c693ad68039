// Which peers get a transaction whole (go-ethereum eth/handler.go BroadcastTransactions and broadcastChoice,
// v1.17.0): blob transactions and transactions over 4096 bytes are only announced; any other goes whole to the
// top ⌈√n⌉ of the n peers ranked by a keyed hash of (peer id, sender), so one sender's transactions go to the
// same peers (nonce order); every other peer gets an announcement — and a peer that knows the transaction
// already gets neither. Pure: the key is the caller's (random per node in
// actors/eth.ts). Deviations: keccak256 instead of SipHash for the keyed hash, and no local node id in it (the
// random key already differs per node); a transaction given without its sender is ranked by its hash.
//
// API
//   planBroadcast(txs, peers, key) → Map<peer index, { direct: TxInfo[], announce: TxInfo[] }>
import { BLOB_TX_TYPE, ETH_TX_MAX_BROADCAST_SIZE } from '../codecs/eth.ts'
import { keccak256 } from '../crypto/keccak.ts'

/** A transaction to broadcast: its hash, type, size and network encoding, and its sender if known. */
export interface BroadcastTx {
  hash: Uint8Array
  type: number
  size: number
  rlp: Uint8Array
  /** 20-byte sender address (geth ranks peers by it); the hash stands in when missing */
  sender?: Uint8Array
}

/** What planning needs of a peer: its node id and whether it already knows a transaction. */
export interface BroadcastPeer {
  id: Uint8Array
  knows(hash: Uint8Array): boolean
}

function score(key: Uint8Array, peer: Uint8Array, sender: Uint8Array): bigint {
  const buf = new Uint8Array(key.length + peer.length + sender.length)
  buf.set(key, 0)
  buf.set(peer, key.length)
  buf.set(sender, key.length + peer.length)
  const h = keccak256(buf)
  return new DataView(h.buffer, h.byteOffset, 8).getBigUint64(0)
}

/** The indices of the ⌈√n⌉ peers that get a transaction from `sender` whole (geth choosePeers). */
export function directPeers(
  peers: readonly BroadcastPeer[],
  sender: Uint8Array,
  key: Uint8Array,
): Set<number> {
  const ranked = peers.map((p, i) => ({ i, s: score(key, p.id, sender) }))
  ranked.sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0))
  const n = Math.ceil(Math.sqrt(peers.length))
  return new Set(ranked.slice(0, n).map((r) => r.i))
}

/** geth BroadcastTransactions: per peer, the transactions to send whole and those to announce. */
export function planBroadcast<T extends BroadcastTx>(
  txs: readonly T[],
  peers: readonly BroadcastPeer[],
  key: Uint8Array,
): Map<number, { direct: T[]; announce: T[] }> {
  const plan = new Map<number, { direct: T[]; announce: T[] }>()
  const at = (i: number) => {
    let p = plan.get(i)
    if (p === undefined) {
      p = { direct: [], announce: [] }
      plan.set(i, p)
    }
    return p
  }
  for (const tx of txs) {
    const whole = tx.type !== BLOB_TX_TYPE && tx.size <= ETH_TX_MAX_BROADCAST_SIZE
    const direct = whole ? directPeers(peers, tx.sender ?? tx.hash, key) : new Set<number>()
    peers.forEach((p, i) => {
      if (p.knows(tx.hash)) return
      if (direct.has(i)) at(i).direct.push(tx)
      else at(i).announce.push(tx)
    })
  }
  return plan
}
