// The supervisor's shared steps (machines/server.machine.ts): what happens when a peer or dial child ends
// (geth delpeer / the dialScheduler's doneCh) and the dial pump (the dialScheduler loop head), as plain
// functions that enqueue their effects and return the context change, so one event does one assign however
// many steps it runs; plus the send-target helpers and the persistent-map update the machine uses.
import type { AnyActorRef, AnyEventObject } from 'xstate'
import { DiscReason, discReasonString } from '../codecs/p2p.ts'
import type { DialOutput } from './dial.machine.ts'
import {
  type DialSchedulerState,
  type DialTask,
  dialDone,
  freeDialSlots,
  inboundCompleted,
  nextHistoryExpiry,
  peerRemoved,
  schedule,
} from './dial-scheduler.ts'
import type { PeerOutput } from './peer.machine.ts'
import type { PersistentMap } from './persistent-map.ts'
import type { FreeSlots, ServerContext, ServerEmitted, ServerEvent } from './server.machine.ts'

/**
 * Send targets that never throw: a missing child resolves to undefined, which XState turns into the
 * sender itself — the supervisor ignores every event it sends to children, so the send is dropped.
 */
export const childActor =
  (childId: string) =>
  ({ self }: { self: AnyActorRef }): AnyActorRef =>
    (self.getSnapshot().children as Record<string, AnyActorRef>)[childId]!
export const systemActor =
  (systemId: string) =>
  ({ system }: { system: { get(id: string): AnyActorRef | undefined } }): AnyActorRef =>
    system.get(systemId)!

export const DONE_PREFIX = 'xstate.done.actor.'
export const ERROR_PREFIX = 'xstate.error.actor.'

export const reasonText = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** The peer and connection maps change by one key per event: persistent, O(1) per change (no copy). */
export function withMap<K, V>(m: PersistentMap<K, V>, k: K, v: V | undefined): PersistentMap<K, V> {
  return v === undefined ? m.delete(k) : m.set(k, v)
}

/**
 * What the step functions below enqueue: the subset of XState's `enqueue` (enqueueActions) they use. The steps
 * return the context change instead of assigning it, so one event does one assign however many steps it runs.
 */
export interface StepEnqueue {
  spawnChild(src: 'dial', opts: { id: string; systemId: string; input: { task: DialTask } }): void
  stopChild(id: string): void
  emit(e: ServerEmitted): void
  cancel(id: string): void
  raise(e: { type: 'dial.historyExpired' }, opts: { id: string; delay: number }): void
  sendTo(
    to:
      | AnyActorRef
      | ((args: { self: AnyActorRef; system: { get(id: string): AnyActorRef | undefined } }) => AnyActorRef),
    e: AnyEventObject,
  ): void
}

/**
 * A peer or dial child ended (geth delpeer / dialScheduler doneCh): stop it (DESIGN §8), update the peer
 * map and the scheduler, tell a dial task how its connection ended. Returns the context change, if any.
 */
export function childEndedStep(
  context: ServerContext,
  event: ServerEvent,
  enqueue: StepEnqueue,
): Partial<ServerContext> | undefined {
  const done = event.type.startsWith(DONE_PREFIX)
  if (!done && !event.type.startsWith(ERROR_PREFIX)) return undefined
  const ev = event as { type: string; actorId?: string; output?: unknown; error?: unknown }
  const childId = ev.actorId ?? ev.type.slice(done ? DONE_PREFIX.length : ERROR_PREFIX.length)
  if (childId.startsWith('dial:')) {
    const d = context.dials.get(childId)
    if (d === undefined) return undefined
    enqueue.stopChild(childId)
    const out = done ? (ev.output as DialOutput | undefined) : undefined
    const result = out && out.resolved !== undefined ? { resolved: out.resolved } : {}
    return {
      dial: dialDone(context.dial, d.id, context.now(), result),
      dials: context.dials.delete(childId),
      freeSlots: { n: d.slot, next: context.freeSlots },
    }
  }
  const conn = context.conns.get(childId)
  if (conn === undefined) return undefined
  enqueue.stopChild(childId)
  const out: PeerOutput = done
    ? ((ev.output as PeerOutput | undefined) ?? {
        reason: DiscReason.NetworkError,
        requestedByRemote: false,
      })
    : { reason: DiscReason.NetworkError, requestedByRemote: false, error: reasonText(ev.error) }
  let { dial, peers, inboundCount } = context
  const id = conn.id
  if (conn.added && id !== undefined && peers.get(id)?.childId === childId) {
    peers = peers.delete(id)
    inboundCount -= conn.inbound ? 1 : 0
    dial = peerRemoved(dial, id, conn.dialed)
    enqueue.emit({ type: 'peer.dropped', id, childId, inbound: conn.inbound, ...out })
  } else if (id !== undefined) {
    if (conn.inbound) dial = inboundCompleted(dial, id)
    if (conn.dialed)
      enqueue.sendTo(systemActor(`dial:${id}`), {
        type: 'dial.handshake.failed',
        error: out.error !== undefined ? reasonText(out.error) : discReasonString(out.reason),
      } as AnyEventObject)
  }
  const change: Partial<ServerContext> = { conns: context.conns.delete(childId), peers, inboundCount, dial }
  if (conn.slot !== undefined) change.freeSlots = { n: conn.slot, next: context.freeSlots }
  return change
}

/**
 * The loop head of geth's dialScheduler: start static dials into free slots, spawn their dial machines, tell
 * the candidate source how many dynamic candidates are welcome, re-arm the history timer. Runs (on `dial`, the
 * scheduler state as changed by the event) after every event that can change the scheduler state while
 * running. Returns the context change, or undefined when there is none.
 */
export function pumpStep(
  context: ServerContext,
  dial: DialSchedulerState,
  enqueue: StepEnqueue,
  /** what the event changed before the pump (its child-id numbers and dial children are read from here) */
  changed?: Partial<ServerContext>,
): Partial<ServerContext> | undefined {
  // fast path (most events): no static dial can start, the demand and the history timer are unchanged —
  // then the full pass below would change nothing, so skip it (and the context copy of its assign)
  const slots = freeDialSlots(dial)
  if (
    (slots <= 0 || dial.staticPool.length === 0) &&
    Math.max(0, slots) === context.demand &&
    nextHistoryExpiry(dial) === context.historyTimerAt
  )
    return undefined
  const now = context.now()
  const out = schedule(dial, now)
  const change: Partial<ServerContext> =
    out.started.length > 0
      ? spawnDials(
          {
            seq: changed?.seq ?? context.seq,
            freeSlots: changed && 'freeSlots' in changed ? changed.freeSlots : context.freeSlots,
            dials: changed?.dials ?? context.dials,
          },
          out.started,
          enqueue,
        )
      : {}
  const next = nextHistoryExpiry(out.state)
  if (next !== context.historyTimerAt) {
    enqueue.cancel('historyTimer')
    if (next !== undefined)
      enqueue.raise({ type: 'dial.historyExpired' }, { id: 'historyTimer', delay: Math.max(0, next - now) })
  }
  if (out.demand !== context.demand)
    enqueue.sendTo(childActor('candidates'), {
      type: 'candidates.demand',
      count: out.demand,
    } as AnyEventObject)
  change.dial = out.state
  change.demand = out.demand
  change.historyTimerAt = next
  return change
}

/** Take a child-id number: the most recently freed one, else the next new one. */
export function takeSlot(c: Pick<ServerContext, 'seq' | 'freeSlots'>): {
  slot: number
  seq: number
  freeSlots: FreeSlots | undefined
} {
  const f = c.freeSlots
  return f
    ? { slot: f.n, seq: c.seq, freeSlots: f.next }
    : { slot: c.seq, seq: c.seq + 1, freeSlots: undefined }
}

/** Spawn a dial machine `dial:<n>` (systemId `dial:<idHex>`) per task; returns the numbers and dial children. */
export function spawnDials(
  c: Pick<ServerContext, 'seq' | 'freeSlots' | 'dials'>,
  tasks: readonly DialTask[],
  enqueue: StepEnqueue,
): Partial<ServerContext> {
  let { seq, freeSlots, dials } = c
  for (const task of tasks) {
    const t = takeSlot({ seq, freeSlots })
    seq = t.seq
    freeSlots = t.freeSlots
    const childId = `dial:${t.slot}`
    dials = dials.set(childId, { id: task.id, slot: t.slot })
    enqueue.spawnChild('dial', { id: childId, systemId: `dial:${task.id}`, input: { task } })
    enqueue.emit({ type: 'dial.started', task })
  }
  return { seq, freeSlots, dials }
}
