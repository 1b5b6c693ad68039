// The checkpoint relay between the peer machines and the supervisor (machines/server.machine.ts), adding one
// rule geth does not have: a tie-break for simultaneous dials.
//
// Why: when A dials B while B dials A, each RLPx initiator finishes its handshakes before the recipient (the
// recipient only reads the initiator's Hello after the initiator read the ack), so A adds the connection A
// dialled while B adds the one B dialled; each then refuses the other connection with DiscAlreadyConnected at
// addPeer, and both peers are lost. geth (p2p/server.go addPeerChecks) has exactly this race; as both sides
// redial when their 35 s dial history expires, at the same moment, it can repeat.
//
// The rule (both sides compute it alike): of two connections between the same pair, the one dialled by the
// node with the smaller id wins. A losing connection that reaches the add-peer checkpoint while a winning one to
// the same node is between its two checkpoints is held there until the winner is added or gone, then forwarded
// — the supervisor then answers AlreadyConnected, or accepts it when the winner failed. Nothing else changes:
// every verdict is still the supervisor's (geth's checks, in geth's order).
//
// API: createCheckpointRelay({ self, forward }) → { ref, released(peerRef), stop() }
//   ref          the actor peer machines send checkpoint.postHandshake / checkpoint.addPeer to (input.supervisor)
//   forward(e)   delivers a checkpoint event to the supervisor (which answers the peer directly)
//   released(r)  the connection of peer actor r was added as a peer or ended
import { type AnyActorRef, createActor, fromCallback } from 'xstate'
import { bytesToHex } from '../codecs/bytes.ts'
import type { NodeId } from '../codecs/node.ts'

export interface CheckpointEvent {
  type: 'checkpoint.postHandshake' | 'checkpoint.addPeer'
  peer: AnyActorRef
  id: NodeId | string
  inbound: boolean
}

export interface CheckpointRelay {
  readonly ref: AnyActorRef
  released(peer: AnyActorRef): void
  /** connections held at add-peer right now (tests) */
  held(): number
  stop(): void
}

/** one connection between its two checkpoints (a list node: the connections to one remote id) */
interface Between {
  readonly ref: AnyActorRef
  readonly id: string
  readonly inbound: boolean
  next: Between | undefined
}

const hexOf = (id: NodeId | string) => (typeof id === 'string' ? id.toLowerCase() : bytesToHex(id))

export function createCheckpointRelay(opts: {
  /** our node id, hex */
  self: string
  forward(event: CheckpointEvent): void
}): CheckpointRelay {
  const self = opts.self.toLowerCase()
  /** connections past post-handshake and not yet added or ended: per remote id, a list (usually of one) */
  const between = new Map<string, Between>()
  const byRef = new Map<AnyActorRef, Between>()
  const held = new Map<AnyActorRef, CheckpointEvent>()

  /** the dialler of a connection has the larger id of the pair: it loses a tie */
  const loses = (id: string, inbound: boolean) => (inbound ? id : self) > (inbound ? self : id)

  const winnerBetween = (id: string, except: AnyActorRef, inbound: boolean): boolean => {
    for (let b = between.get(id); b !== undefined; b = b.next)
      if (b.ref !== except && b.inbound !== inbound) return true
    return false
  }

  const handle = (ev: CheckpointEvent) => {
    // the id is turned into hex once per connection (at post-handshake) and forwarded as hex, which the
    // supervisor takes as is
    const id = (ev.type === 'checkpoint.addPeer' ? byRef.get(ev.peer)?.id : undefined) ?? hexOf(ev.id)
    const e = ev.id === id ? ev : { ...ev, id }
    if (e.type === 'checkpoint.postHandshake') {
      const b: Between = { ref: e.peer, id, inbound: e.inbound, next: between.get(id) }
      between.set(id, b)
      byRef.set(e.peer, b)
      opts.forward(e)
      return
    }
    if (id !== self && loses(id, e.inbound) && winnerBetween(id, e.peer, e.inbound)) {
      held.set(e.peer, e)
      return
    }
    opts.forward(e)
  }

  const actor = createActor(
    fromCallback<CheckpointEvent>(({ receive }) => {
      receive((e) => handle(e))
    }),
  )
  actor.subscribe({ error: () => {} })
  actor.start()

  return {
    ref: actor,
    held: () => held.size,
    released(peer) {
      held.delete(peer)
      const b = byRef.get(peer)
      if (b === undefined) return
      byRef.delete(peer)
      const id = b.id
      const first = between.get(id)
      if (first === b) {
        if (b.next === undefined) between.delete(id)
        else between.set(id, b.next)
      } else {
        for (let p = first; p !== undefined; p = p.next)
          if (p.next === b) {
            p.next = b.next
            break
          }
      }
      if (held.size === 0) return
      for (const [ref, e] of [...held]) {
        if (hexOf(e.id) !== id || winnerBetween(id, ref, e.inbound)) continue
        held.delete(ref)
        opts.forward(e)
      }
    },
    stop() {
      held.clear()
      between.clear()
      byRef.clear()
      actor.stop()
    },
  }
}
