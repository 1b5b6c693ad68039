// The server supervisor (geth p2p/server.go Server.run + the dialScheduler loop of p2p/dial.go) as one
// machine: `idle → starting → running → stopping → stopped` (DESIGN.md §3). It owns the peer map, the
// inbound count, the trusted set and the dial scheduler state (static set, history, dialing); it gives
// the two checkpoint verdicts (machines/checkpoints.ts), spawns one peer machine per dialled connection and
// one dial machine per dial task, and stops every child when it ends (DESIGN.md §8). Pure: sockets, the
// listener, discovery and the peer's I/O are provided actors; time is `input.now` and named delays.
//
// Children: peer machines `peer:out:<n>` (dialled; systemId `peer:<idHex>` unless another live peer holds it),
// dial machines `dial:<n>` (systemId `dial:<idHex>`), the invoked `candidates` source (running only, input
// {demand}) and `startup` (starting only). Inbound peer machines `peer:in:<n>` (id unknown until the ECIES
// handshake: no systemId) are not spawned by the supervisor: machines/inbound-peers.ts creates them with the
// supervisor as their XState parent, and the supervisor first hears of one at its post-handshake checkpoint, as
// geth's server loop does; it records an accepted one with its ref (ConnEntry.ref). The numbers `<n>` of ended
// peers and dials are reused: XState memoizes transition candidates per event type for ever, and a child's done
// event type carries its id (`xstate.done.actor.<id>`).
// Input (ServerInput): self, maxPeers, maxPendingPeers, dialRatio, noDial, protocols (our caps), staticNodes,
// trustedNodes, netRestrict, canResolve, seed, now, makePeerInput (PeerSpawnInput → the peer's input; its
// `supervisor` is this machine, where the peer sends its checkpoint events; machines/inbound-peers.ts uses it too).
//
// | event (in)                     | from              | payload                                  | effect                                    |
// |--------------------------------|-------------------|------------------------------------------|-------------------------------------------|
// | `start`                        | handle            | —                                        | idle → starting (invokes `startup`)       |
// | `stop`                         | handle            | —                                        | → stopping: DiscQuitting to every peer    |
// | `peer.add`                     | handle            | {node: Node}                             | static set (geth AddPeer)                 |
// | `peer.remove`                  | handle            | {id: hex}                                | static set −, DiscRequested if connected  |
// | `trusted.add` / `trusted.remove` | handle          | {id: hex}                                | trusted set (geth AddTrustedPeer)         |
// | `dial.candidate`               | `candidates`      | {node: Node}                             | dynamic dial if a slot is free + checkDial|
// | `dial.connected`               | dial child        | {id, node, flag, conn}                   | spawn peer `peer:out:<n>` (dialled)       |
// | `checkpoint.postHandshake`     | peer (child or    | {peer: ref, id: NodeId|hex, inbound}     | reply accepted / rejected {reason};       |
// |                                | inbound peer)     |                                          | an accepted inbound peer is recorded      |
// | `checkpoint.addPeer`           | peer              | {peer, id, inbound, caps, name}          | reply; accepted → peer map, dial told done|
// |                                |                   |                                          | (a losing simultaneous dial waits first:  |
// |                                |                   |                                          | machines/tie-break.ts)                    |
// | `xstate.done.actor.<id>`       | peer / dial child | output (PeerOutput / DialOutput)         | bookkeeping + stopChild (children only)   |
// | `xstate.error.actor.<child>`   | peer / dial child | error                                    | as done, with NetworkError                |
// | `dial.historyExpired`          | self (delayed)    | —                                        | expire history, redial statics            |
//
// | event (out)                    | to                | payload                                  |
// |--------------------------------|-------------------|------------------------------------------|
// | `checkpoint.accepted`          | asking peer       | —                                        |
// | `checkpoint.rejected`          | asking peer       | {reason: DiscReason}                     |
// | `peer.disconnect`              | recorded peer     | {reason: DiscReason} (Requested/Quitting)|
// | `dial.handshake.done/failed`   | dial child        | {error?: string}                         |
// | `candidates.demand`            | `candidates`      | {count}: free slots left for dynamic dials (sent when it changes) |
//
// | emitted (actor.on)             | payload                                                              |
// |--------------------------------|----------------------------------------------------------------------|
// | `peer.added`                   | {id, childId, inbound, dialed, trusted, name, caps}                 |
// | `peer.dropped`                 | {id, childId, inbound, reason, requestedByRemote, error?}            |
// | `conn.rejected`                | {childId, id, inbound, stage: 'postHandshake'|'addPeer', reason}     |
// | `conn.refused`                 | {conn}: a dial that connected while not running: close it             |
// | `dial.started`                 | {task: DialTask}                                                     |
import {
  type AnyActorLogic,
  type AnyActorRef,
  type AnyEventObject,
  assign,
  enqueueActions,
  fromCallback,
  fromPromise,
  setup,
} from 'xstate'
import type { Node, NodeId } from '../codecs/node.ts'
import { type Capability, DiscReason } from '../codecs/p2p.ts'
import { maxDialedConns, maxInboundConns, type PeerLimits } from './checkpoints.ts'
import { dialMachine } from './dial.machine.ts'
import {
  addStatic,
  createDialScheduler,
  type DialFlag,
  type DialSchedulerState,
  type DialTask,
  expireHistory,
  type NetRestrict,
  NO_CONNS,
  offerCandidate,
  removeStatic,
} from './dial-scheduler.ts'
import type { PeerOutput } from './peer.machine.ts'
import { PersistentMap } from './persistent-map.ts'
import {
  addPeerStep,
  childEndedStep,
  connEntry,
  dialConns,
  peerActor,
  postHandshakeStep,
  pumpStep,
  reasonText,
  spawnDials,
  takeSlot,
  withMap,
  withSched,
} from './server-steps.ts'
import type { BetweenMap } from './tie-break.ts'

/** What the supervisor knows when a peer starts; `makePeerInput` turns it into the peer machine's input. */
export interface PeerSpawnInput {
  conn: unknown
  inbound: boolean
  /** the supervisor itself: where the peer sends its checkpoint events */
  supervisor: AnyActorRef
  /** the dialled node (outbound only) */
  dialDest?: Node
  flag?: DialFlag
}

export interface ServerInput {
  /** our node id, lowercase hex */
  self: string
  maxPeers: number
  maxPendingPeers?: number
  dialRatio?: number
  noDial?: boolean
  /** the capabilities we run (geth Server.Protocols); empty: no UselessPeer check */
  protocols?: readonly Capability[]
  staticNodes?: readonly Node[]
  /** trusted node ids (hex) */
  trustedNodes?: readonly string[]
  netRestrict?: NetRestrict | null
  /** a resolver (discovery) is available for static nodes without an endpoint */
  canResolve?: boolean
  /** seed for the static dial pick */
  seed?: number
  /** the clock (ms); default Date.now */
  now?: () => number
  makePeerInput?: (s: PeerSpawnInput) => unknown
}

export interface ConnEntry {
  /** the peer's actor id: a child's id (`peer:out:<n>`), or an inbound peer's (`peer:in:<n>`) */
  readonly childId: string
  /** the number in a child's id (`peer:out:<n>`), returned to `freeSlots` when it ends */
  readonly slot: number | undefined
  readonly inbound: boolean
  /** remote id once the ECIES handshake told it (postHandshake), or the dialled id */
  readonly id: string | undefined
  readonly dialed: boolean
  readonly trusted: boolean
  /**
   * accepted at post-handshake and counted in `between` until it is added or ends (every accepted dialled
   * connection; an inbound one only while a dial to its id runs: machines/server-steps.ts postHandshakeStep)
   */
  readonly between: boolean
  /**
   * add-peer refused it (it ends soon): no longer pending for checkDial, as geth's inboundCompleted (an accepted
   * connection is pending no more once `peers` maps its id to it: machines/server-steps.ts DialConnsView)
   */
  readonly refused: boolean
  /** an inbound peer (machines/inbound-peers.ts), which is no child of the supervisor; undefined for children */
  readonly ref: AnyActorRef | undefined
}

export interface PeerEntry {
  childId: string
  inbound: boolean
  dialed: boolean
  trusted: boolean
  name: string
  caps: readonly Capability[]
}

// The context is kept narrow: XState's assign copies every field of the context into a new object, one
// transitioning property store each, and on the per-connection path (three assigns per connection, with a
// connection's crypto and I/O in between) that is cold code and memory. Measured with the server bench's
// supervisor clock (share of a connection's CPU): 17 dummy fields more (34) cost 2 points; grouping what changes
// rarely into two fields (17 → 9) gave 4.18 against 4.37 % in three alternating pairs, a gain within the noise.

/** What the supervisor is given and never changes. */
export interface ServerSettings {
  limits: PeerLimits
  protocols: readonly Capability[]
  now: () => number
  makePeerInput: (s: PeerSpawnInput) => unknown
}

export interface ServerContext {
  settings: ServerSettings
  trusted: ReadonlySet<string>
  /** peers that passed addPeer, by node id (geth `peers`); persistent (machines/persistent-map.ts) */
  peers: PersistentMap<string, PeerEntry>
  inboundCount: number
  /**
   * every live spawned peer and every inbound peer accepted at post-handshake, by actor id; persistent. checkDial
   * reads its pending inbound connections from here (machines/server-steps.ts DialConnsView)
   */
  conns: PersistentMap<string, ConnEntry>
  dial: DialSchedulerState
  sched: Sched
  /**
   * connections between their two checkpoints that a simultaneous dial can meet, per remote id and direction
   * (machines/tie-break.ts)
   */
  between: BetweenMap
  /** add-peer requests held by the simultaneous-dial tie-break, with hex ids */
  held: readonly AddPeerEvent[]
  error?: string
}

export type AddPeerEvent = {
  type: 'checkpoint.addPeer'
  peer: AnyActorRef
  id: NodeId | string
  inbound: boolean
  caps: readonly Capability[]
  name: string
}

export type ServerEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'peer.add'; node: Node }
  | { type: 'peer.remove'; id: string }
  | { type: 'trusted.add'; id: string }
  | { type: 'trusted.remove'; id: string }
  | { type: 'dial.candidate'; node: Node }
  | { type: 'dial.connected'; id: string; node: Node; flag: DialFlag; conn: unknown }
  | { type: 'dial.historyExpired' }
  | { type: 'checkpoint.postHandshake'; peer: AnyActorRef; id: NodeId | string; inbound: boolean }
  | AddPeerEvent
  | { type: `xstate.done.actor.${string}`; actorId?: string; output: unknown }
  | { type: `xstate.error.actor.${string}`; actorId?: string; error: unknown }

export type ServerEmitted =
  | {
      type: 'peer.added'
      id: string
      childId: string
      inbound: boolean
      dialed: boolean
      trusted: boolean
      name: string
      caps: readonly Capability[]
    }
  | ({ type: 'peer.dropped'; id: string; childId: string; inbound: boolean } & PeerOutput)
  | {
      type: 'conn.rejected'
      childId: string
      id: string
      inbound: boolean
      stage: 'postHandshake' | 'addPeer'
      reason: DiscReason
    }
  | { type: 'conn.refused'; conn: unknown }
  | { type: 'dial.started'; task: DialTask }

export interface ServerOutput {
  error?: string
}

/** The supervisor's scheduling bookkeeping: the dial pump's state, the dial children, the child-id numbers. */
export interface Sched {
  /** last `candidates.demand` count sent */
  readonly demand: number
  /** when the history timer is armed for (ms), if armed */
  readonly historyTimerAt: number | undefined
  /** dial children (`dial:<n>`) → the node id they dial and their number */
  readonly dials: PersistentMap<string, DialChild>
  /** child-id numbers handed out so far (`<n>` above); ended children's numbers are reused from `freeSlots` */
  readonly seq: number
  /**
   * numbers of ended children, reused before `seq` grows: XState memoizes its transition candidates per event
   * type and state node for ever, and a child's done event type carries its id (`xstate.done.actor.<id>`), so
   * ever-new ids would grow that memo (and the time spent filling it) with every connection
   */
  readonly freeSlots: FreeSlots | undefined
}

export interface DialChild {
  /** the dialled node id (hex) */
  readonly id: string
  readonly slot: number
}

/** A persistent stack of reusable child-id numbers. */
export interface FreeSlots {
  readonly n: number
  readonly next: FreeSlots | undefined
}

/** Placeholder for the peer machine; the actors layer provides the real one. */
const peerPlaceholder: AnyActorLogic = fromPromise<PeerOutput>(async () => {
  throw new Error('peer actor not provided')
})

function withSet<T>(s: ReadonlySet<T>, v: T, on: boolean): ReadonlySet<T> {
  const out = new Set(s)
  if (on) out.add(v)
  else out.delete(v)
  return out
}

export const serverMachine = setup({
  types: {
    context: {} as ServerContext,
    events: {} as ServerEvent,
    input: {} as ServerInput,
    output: {} as ServerOutput,
    emitted: {} as ServerEmitted,
  },
  actors: {
    peer: peerPlaceholder,
    dial: dialMachine,
    startup: fromPromise<void>(async () => {}),
    candidates: fromCallback<{ type: 'candidates.demand'; count: number }, { demand: number }>(
      () => () => {},
    ),
  },
  guards: {
    hasNoConns: ({ context }) => context.conns.size === 0,
  },
  actions: {
    /** geth AddPeer: the static set (and pool). */
    addStatic: assign({
      dial: ({ context, event }) =>
        event.type === 'peer.add' ? addStatic(context.dial, event.node, dialConns(context)) : context.dial,
    }),
    /** geth addtrusted / removetrusted: the set, and the flag of a connected peer. */
    setTrusted: assign(({ context, event }) => {
      if (event.type !== 'trusted.add' && event.type !== 'trusted.remove') return {}
      const id = event.id.toLowerCase()
      const on = event.type === 'trusted.add'
      const p = context.peers.get(id)
      return {
        trusted: withSet(context.trusted, id, on),
        ...(p ? { peers: withMap(context.peers, id, { ...p, trusted: on }) } : {}),
      }
    }),
    /** A peer or dial child ended (stopping: no dial pump). */
    childEnded: enqueueActions(({ context, event, enqueue }) => {
      const p = childEndedStep(context, event, enqueue)
      if (p) enqueue.assign(p)
    }),
    /** A peer or dial child ended while running: the bookkeeping and the dial pump, in one assign. */
    childEndedAndPump: enqueueActions(({ context, event, enqueue }) => {
      const p = childEndedStep(context, event, enqueue)
      const q = pumpStep(context, p?.dial ?? context.dial, enqueue, p)
      if (p && q) enqueue.assign(Object.assign(p, q))
      else if (p || q) enqueue.assign((p ?? q)!)
    }),
    pump: enqueueActions(({ context, enqueue }) => {
      const q = pumpStep(context, context.dial, enqueue)
      if (q) enqueue.assign(q)
    }),
  },
}).createMachine({
  id: 'server',
  context: ({ input }) => {
    let dial = createDialScheduler({
      self: input.self,
      maxDialPeers: maxDialedConns(input),
      maxActiveDials: input.maxPendingPeers,
      netRestrict: input.netRestrict ?? null,
      canResolve: input.canResolve,
      seed: input.seed,
    })
    for (const n of input.staticNodes ?? []) dial = addStatic(dial, n, NO_CONNS)
    return {
      settings: {
        limits: {
          self: input.self.toLowerCase(),
          maxPeers: input.maxPeers,
          maxInbound: maxInboundConns(input),
        },
        protocols: input.protocols ?? [],
        now: input.now ?? Date.now,
        makePeerInput: input.makePeerInput ?? ((s) => s),
      },
      trusted: new Set((input.trustedNodes ?? []).map((id) => id.toLowerCase())),
      peers: PersistentMap.empty(),
      inboundCount: 0,
      conns: PersistentMap.empty(),
      dial,
      sched: {
        demand: 0,
        historyTimerAt: undefined,
        dials: PersistentMap.empty(),
        seq: 0,
        freeSlots: undefined,
      },
      between: PersistentMap.empty(),
      held: [],
    }
  },
  initial: 'idle',
  // Set-keeping events work in every state; `running` adds the dial pump and the disconnects.
  on: {
    'peer.add': { actions: 'addStatic' },
    'peer.remove': {
      actions: assign({ dial: ({ context, event }) => removeStatic(context.dial, event.id.toLowerCase()) }),
    },
    'trusted.add': { actions: 'setTrusted' },
    'trusted.remove': { actions: 'setTrusted' },
    // a dial that connected just before `stop` was processed: its socket is nobody's, the caller closes it
    'dial.connected': {
      actions: enqueueActions(({ event, enqueue }) =>
        enqueue.emit({ type: 'conn.refused', conn: event.conn }),
      ),
    },
  },
  states: {
    idle: {
      on: { start: 'starting', stop: 'stopped' },
    },
    starting: {
      invoke: {
        id: 'startup',
        src: 'startup',
        onDone: 'running',
        onError: { target: 'stopped', actions: assign({ error: ({ event }) => reasonText(event.error) }) },
      },
      on: { stop: 'stopped' },
    },
    running: {
      // the source learns the first demand from its input, later changes from `candidates.demand`
      invoke: {
        id: 'candidates',
        src: 'candidates',
        input: ({ context }) => ({ demand: context.sched.demand }),
      },
      entry: 'pump',
      exit: enqueueActions(({ context, enqueue }) => {
        enqueue.cancel('historyTimer')
        enqueue.assign({ sched: withSched(context.sched, { historyTimerAt: undefined, demand: 0 }) })
      }),
      on: {
        stop: 'stopping',
        'peer.add': { actions: ['addStatic', 'pump'] },
        'peer.remove': {
          actions: [
            enqueueActions(({ context, event, enqueue }) => {
              const id = event.id.toLowerCase()
              enqueue.assign({ dial: removeStatic(context.dial, id) })
              const p = context.peers.get(id)
              if (p)
                enqueue.sendTo(peerActor(context, p.childId), {
                  type: 'peer.disconnect',
                  reason: DiscReason.Requested,
                } as AnyEventObject)
            }),
            'pump',
          ],
        },
        'dial.connected': {
          actions: enqueueActions(({ context, event, enqueue, system, self }) => {
            const { slot, seq, freeSlots } = takeSlot(context.sched)
            const childId = `peer:out:${slot}`
            const systemId = `peer:${event.id}`
            // a second live connection to the same node (simultaneous dials) runs without the systemId
            const registered = (system as { get(id: string): unknown }).get(systemId) !== undefined
            enqueue.spawnChild('peer', {
              id: childId,
              ...(registered ? {} : { systemId }),
              input: context.settings.makePeerInput({
                conn: event.conn,
                inbound: false,
                supervisor: self,
                dialDest: event.node,
                flag: event.flag,
              }),
            })
            enqueue.assign({
              sched: withSched(context.sched, { seq, freeSlots }),
              conns: context.conns.set(
                childId,
                connEntry(
                  childId,
                  slot,
                  false,
                  event.id,
                  true,
                  context.trusted.has(event.id),
                  false,
                  false,
                  undefined,
                ),
              ),
            })
          }),
        },
        'dial.candidate': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const o = offerCandidate(context.dial, event.node, context.settings.now(), dialConns(context))
            // nothing started: the scheduler state is unchanged, so the pump would change nothing either
            if (!o.started) return
            const change: Partial<ServerContext> = {
              dial: o.state,
              sched: withSched(context.sched, spawnDials(context.sched, [o.started], enqueue)),
            }
            const q = pumpStep(context, o.state, enqueue, change)
            enqueue.assign(q ? Object.assign(change, q) : change)
          }),
        },
        'dial.historyExpired': {
          actions: [
            assign({
              dial: ({ context }) => expireHistory(context.dial, context.settings.now(), dialConns(context)),
              sched: ({ context }) => withSched(context.sched, { historyTimerAt: undefined }),
            }),
            'pump',
          ],
        },
        'checkpoint.postHandshake': {
          actions: enqueueActions(({ context, event, enqueue }) =>
            postHandshakeStep(context, event, enqueue),
          ),
        },
        'checkpoint.addPeer': {
          actions: enqueueActions(({ context, event, enqueue }) => addPeerStep(context, event, enqueue)),
        },
        'xstate.done.actor.*': { actions: 'childEndedAndPump' },
        'xstate.error.actor.*': { actions: 'childEndedAndPump' },
      },
    },
    stopping: {
      entry: enqueueActions(({ context, enqueue, self }) => {
        for (const childId of Object.keys(self.getSnapshot().children ?? {}))
          if (childId.startsWith('dial:')) enqueue.stopChild(childId)
        const children = self.getSnapshot().children as Record<string, AnyActorRef | undefined>
        for (const c of context.conns.values()) {
          const ref = c.ref ?? children[c.childId]
          if (ref) enqueue.sendTo(ref, { type: 'peer.disconnect', reason: DiscReason.Quitting })
        }
      }),
      always: { guard: 'hasNoConns', target: 'stopped' },
      on: {
        'checkpoint.postHandshake': {
          actions: enqueueActions(({ event, enqueue }) =>
            enqueue.sendTo(event.peer, { type: 'checkpoint.rejected', reason: DiscReason.Quitting }),
          ),
        },
        'checkpoint.addPeer': {
          actions: enqueueActions(({ event, enqueue }) =>
            enqueue.sendTo(event.peer, { type: 'checkpoint.rejected', reason: DiscReason.Quitting }),
          ),
        },
        'xstate.done.actor.*': { actions: 'childEnded' },
        'xstate.error.actor.*': { actions: 'childEnded' },
      },
    },
    stopped: { type: 'final' },
  },
  output: ({ context }) => (context.error !== undefined ? { error: context.error } : {}),
})
