// The supervisor's steps (machines/server.machine.ts): the two checkpoints (geth checkpointPostHandshake /
// checkpointAddPeer, with the simultaneous-dial tie-break of machines/tie-break.ts), what happens when a peer or
// dial child ends (geth delpeer / the dialScheduler's doneCh) and the dial pump (the dialScheduler loop head), as
// plain functions that enqueue their effects and return (or assign) the context change, so one event does one
// assign however many steps it runs; plus the send-target helpers, the persistent-map update and the dial
// scheduler's view of the connections (DialConnsView) the machine uses.
import type { AnyActorRef, AnyEventObject } from 'xstate'
import { bytesToHex } from '../codecs/bytes.ts'
import type { NodeId } from '../codecs/node.ts'
import { DiscReason, discReasonString } from '../codecs/p2p.ts'
import { addPeerChecks, postHandshakeChecks } from './checkpoints.ts'
import type { DialOutput } from './dial.machine.ts'
import {
  type DialConns,
  type DialSchedulerState,
  type DialTask,
  dialDone,
  freeDialSlots,
  inboundCompleted,
  nextHistoryExpiry,
  peerAdded,
  peerRemoved,
  schedule,
} from './dial-scheduler.ts'
import type { PeerOutput } from './peer.machine.ts'
import type { PersistentMap } from './persistent-map.ts'
import type {
  AddPeerEvent,
  ConnEntry,
  FreeSlots,
  PeerEntry,
  Sched,
  ServerContext,
  ServerEmitted,
  ServerEvent,
} from './server.machine.ts'
import { type BetweenMap, countBetween, mustWait } from './tie-break.ts'

/**
 * Send targets that never throw: a missing child resolves to undefined, which XState turns into the
 * sender itself — the supervisor ignores every event it sends to children, so the send is dropped.
 */
export const childActor =
  (childId: string) =>
  ({ self }: { self: AnyActorRef }): AnyActorRef =>
    (self.getSnapshot().children as Record<string, AnyActorRef>)[childId]!
/** A recorded peer's actor: an inbound peer's ref (no child of the supervisor), else the child. */
export const peerActor =
  (context: Pick<ServerContext, 'conns'>, childId: string) =>
  ({ self }: { self: AnyActorRef }): AnyActorRef =>
    context.conns.get(childId)?.ref ?? childActor(childId)({ self })
export const systemActor =
  (systemId: string) =>
  ({ system }: { system: { get(id: string): AnyActorRef | undefined } }): AnyActorRef =>
    system.get(systemId)!

/**
 * The connections as the dial scheduler's checkDial sees them (machines/dial-scheduler.ts DialConns), over the
 * supervisor's maps — geth's scheduler keeps copies of both sets, updated for every connection. Connected: `peers`
 * has the id. Pending inbound: an inbound connection accepted at post-handshake (so recorded in `conns` with its
 * id) that add-peer neither added nor refused yet; a scan of `conns`, which only checkDial does (a dial candidate,
 * or a static node that may go back into the pool).
 */
export class DialConnsView implements DialConns {
  constructor(
    private readonly peers: ServerContext['peers'],
    private readonly conns: ServerContext['conns'],
  ) {}
  connected(id: string): boolean {
    return this.peers.has(id)
  }
  pendingInbound(id: string): boolean {
    const peers = this.peers
    return this.conns.some(
      (c) => c.inbound && c.id === id && !c.refused && peers.get(id)?.childId !== c.childId,
    )
  }
}

/** The view over a context's (or a changed context's) maps. */
export const dialConns = (c: Pick<ServerContext, 'peers' | 'conns'>): DialConns =>
  new DialConnsView(c.peers, c.conns)

/** Node ids travel as bytes from the peer machine and as hex in the supervisor's maps. */
const hexId = (id: NodeId | string): string => (typeof id === 'string' ? id.toLowerCase() : bytesToHex(id))

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
  raise(e: { type: 'dial.historyExpired' } | AddPeerEvent, opts?: { id: string; delay: number }): void
  sendTo(
    to:
      | AnyActorRef
      | ((args: { self: AnyActorRef; system: { get(id: string): AnyActorRef | undefined } }) => AnyActorRef),
    e: AnyEventObject,
  ): void
}

/**
 * Every ConnEntry is built here, fields always in this order (one object shape on the per-connection path).
 * Whether the connection was added is not kept here: it was when `peers` maps its id to its child id.
 */
export function connEntry(
  childId: string,
  slot: number | undefined,
  inbound: boolean,
  id: string | undefined,
  dialed: boolean,
  trusted: boolean,
  between: boolean,
  refused: boolean,
  ref: AnyActorRef | undefined,
): ConnEntry {
  return { childId, slot, inbound, id, dialed, trusted, between, refused, ref }
}

/**
 * geth `checkpointPostHandshake`: the trusted flag, postHandshakeChecks, and for an accepted connection the
 * tie-break count; answers the peer. An inbound peer (machines/inbound-peers.ts) is not known before: an accepted
 * one is recorded here with its ref, which also marks it pending for checkDial (geth dialsched.inboundPending).
 */
export function postHandshakeStep(
  context: ServerContext,
  event: Extract<ServerEvent, { type: 'checkpoint.postHandshake' }>,
  enqueue: StepEnqueue & { assign(p: Partial<ServerContext>): void },
): void {
  const id = hexId(event.id)
  const conn = context.conns.get(event.peer.id)
  const inbound = conn?.inbound ?? event.inbound
  // geth: the trusted flag is set on the conn here, before checking against MaxPeers
  const trusted = context.trusted.has(id)
  const reason = postHandshakeChecks(context.settings.limits, context, { id, inbound, trusted })
  const accepted = reason === null
  // The tie-break counts an accepted inbound connection only while a dial to that id runs: no dial can start
  // while it is between its checkpoints (checkDial's pending-inbound rule, marked below), and a dial task stays
  // in `dialing` until its connection is added or fails — so without one, no outbound connection can compete.
  const tracked = accepted && (!inbound || context.dial.dialing.has(id))
  const change: Partial<ServerContext> = {}
  if (conn !== undefined)
    change.conns = context.conns.set(
      conn.childId,
      connEntry(conn.childId, conn.slot, conn.inbound, id, conn.dialed, trusted, tracked, false, conn.ref),
    )
  else if (accepted)
    change.conns = context.conns.set(
      event.peer.id,
      connEntry(event.peer.id, undefined, inbound, id, !inbound, trusted, tracked, false, event.peer),
    )
  if (tracked) change.between = countBetween(context.between, id, inbound, 1)
  // nothing to record for a refused inbound peer: its done event finds no entry
  if (change.conns !== undefined) enqueue.assign(change)
  if (accepted) {
    enqueue.sendTo(event.peer, { type: 'checkpoint.accepted' })
  } else {
    enqueue.emit({
      type: 'conn.rejected',
      childId: event.peer.id,
      id,
      inbound,
      stage: 'postHandshake',
      reason,
    })
    enqueue.sendTo(event.peer, { type: 'checkpoint.rejected', reason })
  }
}

/**
 * geth `checkpointAddPeer`: the tie-break wait (machines/tie-break.ts), addPeerChecks, and for an accepted peer
 * the peer map, the inbound count, the dial scheduler and the dial task; answers the peer and runs the pump.
 */
export function addPeerStep(
  context: ServerContext,
  event: AddPeerEvent,
  enqueue: StepEnqueue & { assign(p: Partial<ServerContext>): void },
): void {
  const childId = event.peer.id
  const known = context.conns.get(childId)
  const id = known?.id ?? hexId(event.id)
  const conn =
    known ??
    connEntry(
      childId,
      undefined,
      event.inbound,
      id,
      !event.inbound,
      context.trusted.has(id),
      false,
      false,
      event.peer,
    )
  // the simultaneous-dial tie-break (machines/tie-break.ts): a losing connection waits for the winner
  if (conn.between && mustWait(context.between, context.settings.limits.self, id, conn.inbound)) {
    enqueue.assign({ held: [...context.held, event.id === id ? event : { ...event, id }] })
    return
  }
  const reason = addPeerChecks(context.settings.limits, context.settings.protocols, context, {
    id,
    inbound: conn.inbound,
    trusted: conn.trusted,
    caps: event.caps,
  })
  if (reason !== null) {
    // geth SetupConn's deferred inboundCompleted: a refused inbound connection is pending no more
    const conns =
      conn.inbound && known !== undefined
        ? context.conns.set(
            childId,
            connEntry(childId, conn.slot, true, id, conn.dialed, conn.trusted, conn.between, true, conn.ref),
          )
        : context.conns
    const dial = conn.inbound
      ? inboundCompleted(context.dial, id, dialConns({ peers: context.peers, conns }))
      : context.dial
    enqueue.emit({
      type: 'conn.rejected',
      childId,
      id,
      inbound: conn.inbound,
      stage: 'addPeer',
      reason,
    })
    enqueue.sendTo(event.peer, { type: 'checkpoint.rejected', reason })
    // a refused connection stays counted as between its checkpoints until it ends
    const q = pumpStep(context, dial, enqueue)
    const change: Partial<ServerContext> = conns === context.conns ? { dial } : { dial, conns }
    enqueue.assign(q ? Object.assign(change, q) : change)
    return
  }
  // an accepted inbound connection is pending no more either: `peers` maps its id to it (an inboundCompleted
  // here could only put a static entry back into the pool for peerAdded to take it out again)
  const dial = peerAdded(context.dial, id, conn.dialed)
  const entry: PeerEntry = {
    childId,
    inbound: conn.inbound,
    dialed: conn.dialed,
    trusted: conn.trusted,
    name: event.name,
    caps: event.caps,
  }
  const change: Partial<ServerContext> = {
    dial,
    peers: context.peers.set(id, entry),
    inboundCount: context.inboundCount + (conn.inbound ? 1 : 0),
  }
  // the entry has the id since postHandshake; a peer that skipped it (tests) is tracked from here
  if (known?.id !== id)
    change.conns = context.conns.set(
      childId,
      connEntry(childId, conn.slot, conn.inbound, id, conn.dialed, conn.trusted, false, false, conn.ref),
    )
  if (conn.between) {
    change.between = countBetween(context.between, id, conn.inbound, -1)
    const held = releaseHeld(context.held, context.settings.limits.self, change.between, id, enqueue)
    if (held) change.held = held
  }
  if (conn.dialed)
    enqueue.sendTo(systemActor(`dial:${id}`), { type: 'dial.handshake.done' } as AnyEventObject)
  enqueue.sendTo(event.peer, { type: 'checkpoint.accepted' })
  enqueue.emit({
    type: 'peer.added',
    id,
    childId,
    inbound: entry.inbound,
    dialed: entry.dialed,
    trusted: entry.trusted,
    name: entry.name,
    caps: entry.caps,
  })
  const q = pumpStep(context, dial, enqueue)
  enqueue.assign(q ? Object.assign(change, q) : change)
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
    const sched = context.sched
    const d = sched.dials.get(childId)
    if (d === undefined) return undefined
    enqueue.stopChild(childId)
    const out = done ? (ev.output as DialOutput | undefined) : undefined
    const result = out && out.resolved !== undefined ? { resolved: out.resolved } : {}
    return {
      dial: dialDone(context.dial, d.id, context.settings.now(), dialConns(context), result),
      sched: withSched(sched, {
        dials: sched.dials.delete(childId),
        freeSlots: { n: d.slot, next: sched.freeSlots },
      }),
    }
  }
  const conn = context.conns.get(childId)
  if (conn === undefined) return undefined
  // an inbound peer is no child: it stopped itself on ending (stopChild would only copy the snapshot)
  if (conn.ref === undefined) enqueue.stopChild(childId)
  const out: PeerOutput = done
    ? ((ev.output as PeerOutput | undefined) ?? {
        reason: DiscReason.NetworkError,
        requestedByRemote: false,
      })
    : { reason: DiscReason.NetworkError, requestedByRemote: false, error: reasonText(ev.error) }
  let { dial, peers, inboundCount } = context
  const conns = context.conns.delete(childId)
  const id = conn.id
  const change: Partial<ServerContext> = {}
  if (id !== undefined && peers.get(id)?.childId === childId) {
    peers = peers.delete(id)
    inboundCount -= conn.inbound ? 1 : 0
    dial = peerRemoved(dial, id, conn.dialed, dialConns({ peers, conns }))
    // fields spelled out: an object spread takes V8's slow cloning path
    const dropped: Extract<ServerEmitted, { type: 'peer.dropped' }> = {
      type: 'peer.dropped',
      id,
      childId,
      inbound: conn.inbound,
      reason: out.reason,
      requestedByRemote: out.requestedByRemote,
    }
    if (out.error !== undefined) dropped.error = out.error
    enqueue.emit(dropped)
  } else if (id !== undefined) {
    // a connection held at add-peer, or one a held connection waits for, ended (machines/tie-break.ts)
    let held = context.held
    if (held.length > 0 && held.some((e) => e.peer.id === childId))
      held = held.filter((e) => e.peer.id !== childId)
    if (conn.between) {
      change.between = countBetween(context.between, id, conn.inbound, -1)
      held = releaseHeld(held, context.settings.limits.self, change.between, id, enqueue) ?? held
    }
    if (held !== context.held) change.held = held
    if (conn.inbound) dial = inboundCompleted(dial, id, dialConns({ peers, conns }))
    if (conn.dialed)
      enqueue.sendTo(systemActor(`dial:${id}`), {
        type: 'dial.handshake.failed',
        error: out.error !== undefined ? reasonText(out.error) : discReasonString(out.reason),
      } as AnyEventObject)
  }
  change.conns = conns
  change.peers = peers
  change.inboundCount = inboundCount
  change.dial = dial
  if (conn.slot !== undefined)
    change.sched = withSched(context.sched, { freeSlots: { n: conn.slot, next: context.sched.freeSlots } })
  return change
}

/**
 * The held add-peer requests for `id` that need not wait any longer (`between` as just changed), raised again
 * to be checked; returns the requests still held, or undefined when none was released.
 */
export function releaseHeld(
  held: readonly AddPeerEvent[],
  self: string,
  between: BetweenMap,
  id: string,
  enqueue: StepEnqueue,
): readonly AddPeerEvent[] | undefined {
  if (held.length === 0) return undefined
  const keep: AddPeerEvent[] = []
  for (const e of held)
    if (e.id === id && !mustWait(between, self, id, e.inbound)) enqueue.raise(e)
    else keep.push(e)
  return keep.length === held.length ? undefined : keep
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
  const sched = changed?.sched ?? context.sched
  // fast path (most events): no static dial can start, the demand and the history timer are unchanged —
  // then the full pass below would change nothing, so skip it (and the context copy of its assign)
  const slots = freeDialSlots(dial)
  if (
    (slots <= 0 || dial.staticPool.length === 0) &&
    Math.max(0, slots) === sched.demand &&
    nextHistoryExpiry(dial) === sched.historyTimerAt
  )
    return undefined
  const now = context.settings.now()
  const out = schedule(dial, now)
  const ids = out.started.length > 0 ? spawnDials(sched, out.started, enqueue) : sched
  const next = nextHistoryExpiry(out.state)
  if (next !== sched.historyTimerAt) {
    enqueue.cancel('historyTimer')
    if (next !== undefined)
      enqueue.raise({ type: 'dial.historyExpired' }, { id: 'historyTimer', delay: Math.max(0, next - now) })
  }
  if (out.demand !== sched.demand)
    enqueue.sendTo(childActor('candidates'), {
      type: 'candidates.demand',
      count: out.demand,
    } as AnyEventObject)
  return {
    dial: out.state,
    sched: withSched(sched, {
      seq: ids.seq,
      freeSlots: ids.freeSlots,
      dials: ids.dials,
      demand: out.demand,
      historyTimerAt: next,
    }),
  }
}

/** `s` with the fields of `c` changed; fields always in this order (one object shape). */
export function withSched(s: Sched, c: Partial<Sched>): Sched {
  return {
    demand: c.demand ?? s.demand,
    historyTimerAt: 'historyTimerAt' in c ? c.historyTimerAt : s.historyTimerAt,
    dials: c.dials ?? s.dials,
    seq: c.seq ?? s.seq,
    freeSlots: 'freeSlots' in c ? c.freeSlots : s.freeSlots,
  }
}

/** Take a child-id number: the most recently freed one, else the next new one. */
export function takeSlot(c: Pick<Sched, 'seq' | 'freeSlots'>): {
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
  c: Pick<Sched, 'seq' | 'freeSlots' | 'dials'>,
  tasks: readonly DialTask[],
  enqueue: StepEnqueue,
): Pick<Sched, 'seq' | 'freeSlots' | 'dials'> {
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
