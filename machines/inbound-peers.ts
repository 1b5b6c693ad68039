// Inbound peer machines beside the server supervisor (machines/server.machine.ts): geth's server loop first
// hears of an inbound connection at checkpointPostHandshake — SetupConn runs the ECIES handshake on the
// connection's own goroutine — and so does the supervisor here. The peer machine (the supervisor's own `peer`
// actor logic, the same one it spawns for dialled connections) is created with the supervisor as its XState
// parent: it lives in the supervisor's actor system (inspection, clock, scheduler), sends its checkpoints to
// the supervisor and its done event reaches it, but it costs the supervisor no event and no snapshot until its
// first checkpoint. The supervisor records a peer it accepts at post-handshake (with its ref, ConnEntry.ref);
// one that ends before that is never in the supervisor's state. Creating an actor is not I/O: pure like the
// rest of machines/.
//
// Ids `peer:in:<n>`; the number of an ended peer is reused (XState memoizes transition candidates per event
// type for ever, and a done event's type carries the actor id). The supervisor tells when a number is free: its
// `peer.dropped` (an added peer) or `inbound.ended` (one never added) comes once it has handled the peer's done or
// error event. No subscription per peer: an actor with an observer cost the supervisor arm of
// `npm run bench -- supervisor` about 20 µs more per connection.
//
// API
//   new InboundPeers(supervisor)   the running supervisor actor (createActor(serverMachine…))
//   .start(conn) → ref | undefined start the peer for an accepted connection (makePeerInput of the supervisor's
//                                  context with inbound: true); undefined unless the supervisor is `running`,
//                                  and then the caller closes the connection (geth: the listener is closed first)
//   .get(id) / .refs() / .size     live inbound peers (tests, the server's queries); a peer that ended after the
//                                  supervisor did (no event frees it) is left out, and forgotten by refs / size
import { type Actor, type AnyActorLogic, type AnyActorRef, createActor } from 'xstate'
import type { serverMachine } from './server.machine.ts'
import { INBOUND_PREFIX } from './server-steps.ts'

type Supervisor = Actor<typeof serverMachine>

const active = (ref: AnyActorRef): boolean => ref.getSnapshot().status === 'active'

export class InboundPeers {
  readonly #live = new Map<string, AnyActorRef>()
  readonly #free: number[] = []
  #seq = 0

  constructor(private readonly supervisor: Supervisor) {
    const ended = (e: { childId: string }) => {
      // peer.dropped also comes for dialled peers (children, not ours)
      if (this.#live.delete(e.childId)) this.#free.push(Number(e.childId.slice(INBOUND_PREFIX.length)))
    }
    supervisor.on('peer.dropped', ended)
    supervisor.on('inbound.ended', ended)
  }

  start(conn: unknown): AnyActorRef | undefined {
    const sup = this.supervisor
    const snap = sup.getSnapshot()
    // the supervisor's states are atomic: its value is the state's name (matches() would parse 'running')
    if (snap.status !== 'active' || snap.value !== 'running') return undefined
    const n = this.#free.pop() ?? this.#seq++
    const id = `${INBOUND_PREFIX}${n}`
    const logic = sup.logic.implementations.actors.peer as AnyActorLogic
    const ref = createActor(logic, {
      parent: sup,
      id,
      input: snap.context.makePeerInput({ conn, inbound: true, supervisor: sup }),
    })
    this.#live.set(id, ref)
    ref.start()
    return ref
  }

  get(id: string): AnyActorRef | undefined {
    const ref = this.#live.get(id)
    return ref !== undefined && active(ref) ? ref : undefined
  }

  refs(): IterableIterator<AnyActorRef> {
    this.#prune()
    return [...this.#live.values()].filter(active).values()
  }

  get size(): number {
    this.#prune()
    let n = 0
    for (const ref of this.#live.values()) if (active(ref)) n++
    return n
  }

  /** once the supervisor has ended, no event frees the peers that end after it: forget those here */
  #prune(): void {
    if (active(this.supervisor)) return
    for (const [id, ref] of this.#live) if (!active(ref)) this.#live.delete(id)
  }
}
