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
// type for ever, and a done event's type carries the actor id).
//
// API
//   new InboundPeers(supervisor)   the running supervisor actor (createActor(serverMachine…))
//   .start(conn) → ref | undefined start the peer for an accepted connection (makePeerInput of the supervisor's
//                                  context with inbound: true); undefined unless the supervisor is `running`,
//                                  and then the caller closes the connection (geth: the listener is closed first)
//   .get(id) / .refs() / .size     live inbound peers (tests, the server's queries)
import { type Actor, type AnyActorLogic, type AnyActorRef, createActor } from 'xstate'
import type { serverMachine } from './server.machine.ts'

type Supervisor = Actor<typeof serverMachine>

export class InboundPeers {
  readonly #live = new Map<string, AnyActorRef>()
  readonly #free: number[] = []
  #seq = 0

  constructor(private readonly supervisor: Supervisor) {}

  start(conn: unknown): AnyActorRef | undefined {
    const sup = this.supervisor
    const snap = sup.getSnapshot()
    // the supervisor's states are atomic: its value is the state's name (matches() would parse 'running')
    if (snap.status !== 'active' || snap.value !== 'running') return undefined
    const n = this.#free.pop() ?? this.#seq++
    const id = `peer:in:${n}`
    const logic = sup.logic.implementations.actors.peer as AnyActorLogic
    const ref = createActor(logic, {
      parent: sup,
      id,
      input: snap.context.settings.makePeerInput({ conn, inbound: true, supervisor: sup }),
    })
    this.#live.set(id, ref)
    // before the done event goes to the supervisor (XState completes observers first); a new peer reaches the
    // supervisor only after its ECIES handshake, so the reused id's first event comes after that done event
    const ended = () => {
      this.#live.delete(id)
      this.#free.push(n)
    }
    ref.subscribe({ complete: ended, error: ended })
    ref.start()
    return ref
  }

  get(id: string): AnyActorRef | undefined {
    return this.#live.get(id)
  }

  refs(): IterableIterator<AnyActorRef> {
    return this.#live.values()
  }

  get size(): number {
    return this.#live.size
  }
}
