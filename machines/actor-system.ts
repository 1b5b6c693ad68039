// A workaround for XState's actor system in a long-lived process (xstate 5.33 createSystem): the system
// records every actor it starts in a Map keyed by session id (`children`: set by `_register` in Actor.start,
// deleted by `_unregister`), and nothing ever reads that Map. In a long-lived system — the server
// supervisor's, which every inbound and dialled peer, their handshake and protocol actors and every dial task
// join — that Map keeps finished actors alive through V8's young-generation scavenges, although their entries
// are deleted (the mechanism inside V8 is not pinned down: a plain long-lived Map churning small values does
// not show it). Measured in one process with the server machine (bench/supervisor.bench.ts's server arm,
// --no-allocation-site-pretenuring): 10.1 kB promoted per connection with the registry, 5.5 kB without — the
// same as peers that are root actors of their own system; in a loop of machine actors invoking a task under a
// long-lived parent, 71 MB promoted against 36 MB.
//
// leanActorSystem(actor) makes `_register` only return the session id, as XState's own code uses it;
// systemIds (`system.get`), inspection, the scheduler and `_unregister` are untouched. Pure: no I/O.
//
// API
//   leanActorSystem(actor) → boolean   true when applied; false (nothing changed) if this XState's system has no
//                                       `_register` of the expected shape
import type { AnyActorRef } from 'xstate'

type Registry = { _register?: (sessionId: string, actor: unknown) => string; [kLean]?: true }
const kLean = Symbol('devp2p.leanActorSystem')

/** Stop `actor`'s system from keeping every started actor in its unread session-id Map (see the module comment). */
export function leanActorSystem(actor: AnyActorRef): boolean {
  const system = actor.system as unknown as Registry | undefined
  if (system?.[kLean]) return true
  if (!system || typeof system._register !== 'function' || system._register.length !== 2) return false
  system._register = (sessionId) => sessionId
  system[kLean] = true
  return true
}
