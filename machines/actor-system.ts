// Workarounds for XState's actor system in a long-lived process (xstate 5.33 createSystem), for the server
// supervisor's system, which every inbound and dialled peer, their connection and protocol actors and every dial
// task join. Two things in it cost in proportion to what the whole system holds, not to what one actor does:
//
// 1. The registry: the system records every actor it starts in a Map keyed by session id (`children`: set by
//    `_register` in Actor.start, deleted by `_unregister`), and nothing ever reads that Map. In a long-lived system
//    that Map keeps finished actors alive through V8's young-generation scavenges, although their entries are
//    deleted (the mechanism inside V8 is not pinned down: a plain long-lived Map churning small values does not
//    show it). Measured in one process with the server machine (bench/supervisor.bench.ts's server arm,
//    --no-allocation-site-pretenuring): 10.1 kB promoted per connection with the registry, 5.5 kB without — the
//    same as peers that are root actors of their own system; in a loop of machine actors invoking a task under a
//    long-lived parent, 71 MB promoted against 36 MB. Lean: `_register` only returns the session id, as XState's
//    own code uses it; systemIds (`system.get`), inspection and `_unregister` are untouched.
// 2. The scheduler of delayed events (`after`, delayed sends): one object for the whole system, keyed by
//    `<sessionId>.<id>` strings, and `cancelAll(actor)` — run by every actor's stop — walks every delayed event of
//    the system to find that actor's. With each live peer holding a timer (handshake, Hello or ping), every actor
//    that stops pays for every live peer. Lean: the same operations over a Map per source actor, so stopping an
//    actor touches only its own timers; the clock (`system._clock`, a SimulatedClock in tests) and the delivery
//    (`system._relay`, with its inspection event) are XState's. Not kept: the copy of pending events in
//    `system.getSnapshot()` (persisting a system with its timers), which nothing here uses. Rescheduling an id that
//    is still pending replaces it (XState's own would leave the first timer running, untracked).
//
// Pure: no I/O; timers only through the system's own clock.
//
// API
//   leanActorSystem(actor) → boolean   true when applied (before `actor.start()`); false (nothing changed) if this
//                                       XState's system does not have the expected shape, or already holds
//                                       delayed events (then it is left alone)
import type { AnyActorRef, EventObject } from 'xstate'

type Timer = ReturnType<typeof setTimeout> | number
interface Clock {
  setTimeout(fn: () => void, ms: number): Timer
  clearTimeout(id: Timer): void
}
interface Scheduler {
  schedule(source: AnyActorRef, target: AnyActorRef, event: EventObject, delay: number, id?: string): void
  cancel(source: AnyActorRef, id: string): void
  cancelAll(source: AnyActorRef): void
}
type System = {
  _register?: (sessionId: string, actor: unknown) => string
  _relay?: (source: AnyActorRef, target: AnyActorRef, event: EventObject) => void
  _clock?: Clock
  _snapshot?: { _scheduledEvents?: Record<string, unknown> }
  scheduler?: Scheduler
  [kLean]?: true
}
const kLean = Symbol('devp2p.leanActorSystem')

/** Apply both workarounds (see the module comment) to `actor`'s system; call before starting it. */
export function leanActorSystem(actor: AnyActorRef): boolean {
  const system = actor.system as unknown as System | undefined
  if (system?.[kLean]) return true
  if (!system || typeof system._register !== 'function' || system._register.length !== 2) return false
  const relay = system._relay
  const clock = system._clock
  const pending = system._snapshot?._scheduledEvents
  const s = system.scheduler
  if (
    typeof relay !== 'function' ||
    !clock ||
    !pending ||
    Object.keys(pending).length > 0 ||
    typeof s?.schedule !== 'function' ||
    typeof s.cancel !== 'function' ||
    typeof s.cancelAll !== 'function'
  )
    return false
  system._register = (sessionId) => sessionId
  system.scheduler = new LeanScheduler(clock, relay)
  system[kLean] = true
  return true
}

/** XState's scheduler interface over a Map of each source actor's pending timers. */
class LeanScheduler implements Scheduler {
  private readonly bySource = new Map<AnyActorRef, Map<string, Timer>>()
  constructor(
    private readonly clock: Clock,
    private readonly relay: (source: AnyActorRef, target: AnyActorRef, event: EventObject) => void,
  ) {}

  schedule(
    source: AnyActorRef,
    target: AnyActorRef,
    event: EventObject,
    delay: number,
    id = Math.random().toString(36).slice(2),
  ): void {
    let timers = this.bySource.get(source)
    if (!timers) {
      timers = new Map()
      this.bySource.set(source, timers)
    }
    const previous = timers.get(id)
    if (previous !== undefined) this.clock.clearTimeout(previous)
    const mine = timers
    const timer = this.clock.setTimeout(() => {
      if (mine.get(id) === timer) mine.delete(id)
      if (mine.size === 0 && this.bySource.get(source) === mine) this.bySource.delete(source)
      this.relay(source, target, event)
    }, delay)
    timers.set(id, timer)
  }

  cancel(source: AnyActorRef, id: string): void {
    const timers = this.bySource.get(source)
    const timer = timers?.get(id)
    if (timer === undefined) return
    this.clock.clearTimeout(timer)
    timers!.delete(id)
    if (timers!.size === 0) this.bySource.delete(source)
  }

  cancelAll(source: AnyActorRef): void {
    const timers = this.bySource.get(source)
    if (!timers) return
    this.bySource.delete(source)
    for (const timer of timers.values()) this.clock.clearTimeout(timer)
  }

  /** @internal pending timers of the whole system (tests) */
  get size(): number {
    let n = 0
    for (const t of this.bySource.values()) n += t.size
    return n
  }
}
