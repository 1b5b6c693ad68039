// The supervisor's two admission verdicts as pure functions: geth p2p/server.go postHandshakeChecks and
// addPeerChecks (plus MaxDialedConns / MaxInboundConns and countMatchingProtocols from p2p/peer.go).
//
// | function               | inputs                                   | result                                  |
// |------------------------|------------------------------------------|-----------------------------------------|
// | postHandshakeChecks    | limits, peer view, {id, inbound, trusted} | DiscReason or null, in geth's order:    |
// |                        |                                          | TooManyPeers (total), TooManyPeers      |
// |                        |                                          | (inbound share), AlreadyConnected, Self |
// | addPeerChecks          | same + {caps}, our protocols             | UselessPeer, then postHandshakeChecks   |
// | maxDialedConns         | {maxPeers, dialRatio, noDial}            | geth MaxDialedConns                     |
// | maxInboundConns        | same                                     | maxPeers − maxDialedConns               |
//
// The peer view holds only peers that passed addPeer (geth's `peers` map and `inboundCount`): pending
// connections do not count towards the limits, exactly as in geth.
import { type Capability, DiscReason } from '../codecs/p2p.ts'

/** geth p2p/server.go defaultDialRatio: a third of the peer slots are for dialed connections. */
export const DEFAULT_DIAL_RATIO = 3

export interface PeerLimits {
  /** our own node id, lowercase hex without 0x */
  self: string
  maxPeers: number
  /** maxPeers − maxDialedConns (geth MaxInboundConns) */
  maxInbound: number
}

/** The part of the supervisor's state the checks read. */
export interface PeerView {
  /** ids (hex) of the peers that passed addPeer */
  peers: { has(id: string): boolean; readonly size: number }
  inboundCount: number
}

export interface CheckedConn {
  id: string
  inbound: boolean
  trusted: boolean
}

/** geth Server.MaxDialedConns: 0 with noDial or maxPeers 0, else maxPeers / dialRatio, at least 1. */
export function maxDialedConns(cfg: { maxPeers: number; dialRatio?: number; noDial?: boolean }): number {
  if (cfg.noDial || cfg.maxPeers === 0) return 0
  const ratio = cfg.dialRatio && cfg.dialRatio > 0 ? cfg.dialRatio : DEFAULT_DIAL_RATIO
  const limit = Math.floor(cfg.maxPeers / ratio)
  return limit === 0 ? 1 : limit
}

/** geth Server.MaxInboundConns. */
export function maxInboundConns(cfg: { maxPeers: number; dialRatio?: number; noDial?: boolean }): number {
  return cfg.maxPeers - maxDialedConns(cfg)
}

/** geth postHandshakeChecks: the verdict once the remote identity is known (after the ECIES handshake). */
export function postHandshakeChecks(limits: PeerLimits, view: PeerView, c: CheckedConn): DiscReason | null {
  if (!c.trusted && view.peers.size >= limits.maxPeers) return DiscReason.TooManyPeers
  if (!c.trusted && c.inbound && view.inboundCount >= limits.maxInbound) return DiscReason.TooManyPeers
  if (view.peers.has(c.id)) return DiscReason.AlreadyConnected
  if (c.id === limits.self) return DiscReason.Self
  return null
}

/** geth countMatchingProtocols: caps that match one of our protocols by name and exact version. */
function countMatchingProtocols(protocols: readonly Capability[], caps: readonly Capability[]): number {
  let n = 0
  for (const cap of caps) {
    for (const p of protocols) if (p.name === cap.name && p.version === cap.version) n++
  }
  return n
}

/**
 * geth addPeerChecks: after the protocol handshake. No shared protocol (only when we run protocols at
 * all) → UselessPeer; then the post-handshake checks again, because the peer set may have changed.
 */
export function addPeerChecks(
  limits: PeerLimits,
  protocols: readonly Capability[],
  view: PeerView,
  c: CheckedConn & { caps: readonly Capability[] },
): DiscReason | null {
  if (protocols.length > 0 && countMatchingProtocols(protocols, c.caps) === 0) return DiscReason.UselessPeer
  return postHandshakeChecks(limits, view, c)
}
