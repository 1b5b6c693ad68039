// The supervisor's tie-break for simultaneous dials (machines/server.machine.ts), one rule geth does not have.
//
// Why: when A dials B while B dials A, each RLPx initiator finishes its handshakes before the recipient (the
// recipient only reads the initiator's Hello after the initiator read the ack), so A adds the connection A
// dialled while B adds the one B dialled; each then refuses the other connection with DiscAlreadyConnected at
// addPeer, and both peers are lost. geth (p2p/server.go addPeerChecks) has exactly this race; as both sides
// redial when their 35 s dial history expires, at the same moment, it can repeat.
//
// The rule (both sides compute it alike): of two connections between the same pair, the one dialled by the
// node with the smaller id wins. A losing connection that reaches the add-peer checkpoint while a winning one to
// the same node is between its two checkpoints (accepted at post-handshake, not yet added or ended) is held
// there until the winner is added or gone, then checked — the supervisor then answers AlreadyConnected, or
// accepts it when the winner failed. Nothing else changes: every verdict is still geth's checks, in geth's order.
//
// Pure: `between` is a persistent map (machines/persistent-map.ts) of how many connections to each remote id
// are between their checkpoints, each way; the supervisor keeps it in its context. It counts every dialled
// connection, and an inbound one only while a dial to its id runs: no dial can start while an inbound connection
// from that id is between its checkpoints (geth checkDial's pending-inbound rule), so an inbound connection met
// by no running dial can never meet a competitor (machines/server-steps.ts postHandshakeStep).
import type { PersistentMap } from './persistent-map.ts'

/** connections to one remote id between their two checkpoints, by direction */
export interface Between {
  readonly inbound: number
  readonly outbound: number
}

export type BetweenMap = PersistentMap<string, Between>

/** A connection to `id` passed post-handshake (`d` = +1) or was added or ended after it (`d` = −1). */
export function countBetween(m: BetweenMap, id: string, inbound: boolean, d: 1 | -1): BetweenMap {
  const b = m.get(id)
  const i = (b?.inbound ?? 0) + (inbound ? d : 0)
  const o = (b?.outbound ?? 0) + (inbound ? 0 : d)
  return i <= 0 && o <= 0 ? m.delete(id) : m.set(id, { inbound: i, outbound: o })
}

/**
 * Must a connection to `id` wait at add-peer? When its dialler has the larger id of the pair (inbound: the
 * remote dialled; outbound: we did) and a connection the other way is between its checkpoints.
 */
export function mustWait(m: BetweenMap, self: string, id: string, inbound: boolean): boolean {
  if (id === self || (inbound ? id < self : self < id)) return false
  const b = m.get(id)
  return b !== undefined && (inbound ? b.outbound : b.inbound) > 0
}
