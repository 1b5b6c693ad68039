// geth's peer dropper (eth/dropper.go, v1.17.5): when the peer pools are full, a random peer is dropped every 3–7
// minutes (DiscUselessPeer), so a full node keeps making room for new peers instead of keeping the same ones for
// ever. This file is the choice, pure: which peer, if any. The timer, the server and the metrics are
// actors/peer-dropper.ts.
//
// Rules (geth dropRandomPeer): count the inbound and the dialled peers; when both pools have room (more than
// `threshold` slots free, geth peerDropThreshold 0) nothing is dropped. Otherwise a peer is a candidate unless it is
// trusted, was dialled as a static node, has been connected for less than 10 minutes, or is in a pool that still has
// room; one candidate is picked at random. Not built: geth's protection of the top 10 % of each pool by transaction
// inclusion (its txtracker needs the chain's blocks, which this stack does not follow).
//
// API
//   PEER_DROP                                 geth's constants (ms)
//   pickPeerToDrop(peers, pools, now, random) → the peer to drop, or null (skipped)
//   nextDropDelay(random) → ms until the next try, uniform in [3 min, 7 min)

/** geth eth/dropper.go constants. */
export const PEER_DROP = {
  /** peerDropIntervalMin */
  intervalMinMs: 3 * 60_000,
  /** peerDropIntervalMax */
  intervalMaxMs: 7 * 60_000,
  /** doNotDropBefore: a peer connected for less than this is kept */
  doNotDropBeforeMs: 10 * 60_000,
  /** peerDropThreshold: free slots at or under which a pool counts as full */
  threshold: 0,
} as const

/** A connected peer as the dropper sees it. */
export interface DropCandidate {
  id: string
  inbound: boolean
  trusted: boolean
  /** dialled because it is a static node (geth staticDialedConn) */
  static: boolean
  /** when it was added (ms, same clock as `now`) */
  since: number
}

/** The pool sizes (geth Server.MaxDialedConns / MaxInboundConns). */
export interface DropPools {
  maxDialed: number
  maxInbound: number
}

export interface DropTimes {
  doNotDropBeforeMs: number
  threshold: number
}

/** geth randomDuration(peerDropIntervalMin, peerDropIntervalMax). */
export function nextDropDelay(
  random: () => number,
  min: number = PEER_DROP.intervalMinMs,
  max: number = PEER_DROP.intervalMaxMs,
): number {
  return min === max ? min : min + Math.floor(random() * (max - min))
}

/** geth dropper.dropRandomPeer's choice: the peer to drop, or null when there is none to (the skipped meter). */
export function pickPeerToDrop<P extends DropCandidate>(
  peers: readonly P[],
  pools: DropPools,
  now: number,
  random: () => number,
  times: DropTimes = PEER_DROP,
): P | null {
  let inbound = 0
  for (const p of peers) if (p.inbound) inbound++
  const dialed = peers.length - inbound
  const dialedRoom = pools.maxDialed - dialed > times.threshold
  const inboundRoom = pools.maxInbound - inbound > times.threshold
  if (dialedRoom && inboundRoom) return null
  const droppable = peers.filter(
    (p) =>
      !p.trusted &&
      !p.static &&
      now - p.since >= times.doNotDropBeforeMs &&
      !(p.inbound ? inboundRoom : dialedRoom),
  )
  if (droppable.length === 0) return null
  return droppable[Math.floor(random() * droppable.length)] ?? null
}
