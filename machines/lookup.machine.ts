// One discv4 iterative lookup as a state machine (DESIGN.md §3; geth p2p/discover/lookup.go):
// `seeding → querying → done`. α = 3 FINDNODE queries in flight over the k = 16 closest nodes seen, ordered
// by XOR distance to the target; a failed query just counts as asked; ends when every one of the 16
// closest was asked and none is in flight. Pure: effects are the provided actors below.
//
// Input:  { target: NodeId, selfId?: NodeId (never queried), seeds?: Node[] (what the default `seed` returns) }
// Output (root): Node[] — the closest nodes found, closest first (≤ 16).
// Provided actors (supply with `.provide({ actors })`; the defaults make the machine usable standalone):
//   seed         fromPromise<Node[], { target }>   the table's closest nodes (geth findnodeByID(target, 16));
//                                                   default returns input.seeds
//   waitForNodes fromPromise<void, { target }>     only when seeding found nothing: trigger a table refresh and
//                                                   resolve when the table holds a node again (geth
//                                                   lookupFailed); bounded by the `tableRefillTimeout` delay
//                                                   (60 s), then seeding runs once more; still empty → done
//   findnode     fromPromise<Node[], { node, target }>  one FINDNODE round trip (bonding, Neighbors collection,
//                                                   table.trackRequest are the service's business); spawned
//                                                   as child `findnode:<slot>` (slot 0 … α−1, the query's
//                                                   node in context.slots); rejection = failure. Slots are
//                                                   reused, not node ids: XState memoizes transition
//                                                   candidates per event type for ever, and a child's done
//                                                   event type carries its id (one per node ever asked
//                                                   would grow that memo for the life of the process)
// Events in:  `lookup.cancel` → done at once (children stop with the machine), plus the children's
//             xstate.done.actor.* / xstate.error.actor.* events.
// Emitted:    `lookup.found` { nodes } — nodes seen for the first time (seeds and each reply), in arrival order,
//             for candidate iterators (geth lookupIterator's replyBuffer). Listen with actor.on('lookup.found').
// Ids: machine id 'lookup'; the spawner gives systemId `lookup:<n>`.
import { assign, emit, enqueueActions, fromPromise, setup, stopChild } from 'xstate'
import { ALPHA, BUCKET_SIZE, idKey, pushByDistance } from '../codecs/kad.ts'
import type { Node, NodeId } from '../codecs/node.ts'

/** geth lookupIterator.lookupFailed waits at most 1 minute for the table to refill. */
export const TABLE_REFILL_TIMEOUT_MS = 60_000
/** geth lookupIterator.slowdown: consecutive lookups of an iterator start at least 1 s apart. */
export const LOOKUP_MIN_INTERVAL_MS = 1_000

/** How long an iterator waits before starting its next lookup (geth slowdown; 0 when enough time passed). */
export function nextLookupDelay(lastLookupAt: number | undefined, now: number): number {
  if (lastLookupAt === undefined) return 0
  const since = now - lastLookupAt
  return since >= LOOKUP_MIN_INTERVAL_MS ? 0 : LOOKUP_MIN_INTERVAL_MS - since
}

export interface LookupInput {
  target: NodeId
  selfId?: NodeId
  seeds?: Node[]
}

export interface SeedInput {
  target: NodeId
  /** LookupInput.seeds */
  seeds: Node[] | undefined
}

export interface FindnodeInput {
  node: Node
  target: NodeId
}

export interface LookupContext {
  target: NodeId
  /** closest nodes seen, sorted by distance to target, at most BUCKET_SIZE */
  result: Node[]
  /** id hex → true for every node seen (self included) */
  seen: Record<string, true>
  /** id hex → true for every node asked (self included) */
  asked: Record<string, true>
  /** id hex of the queries in flight */
  inFlight: string[]
  /** id hex of the node each query slot asks ('' = free); the child of slot i is `findnode:<i>` */
  slots: string[]
  /** high-water mark of inFlight.length */
  maxInFlight: number
  queries: number
  failures: number
  /** seeding already waited for the table once */
  refilled: boolean
  seeds: Node[] | undefined
}

export type LookupEvent =
  | { type: 'lookup.cancel' }
  | { type: `xstate.done.actor.findnode:${string}`; output: Node[]; actorId: string }
  | { type: `xstate.error.actor.findnode:${string}`; error: unknown; actorId: string }

export type LookupEmitted = { type: 'lookup.found'; nodes: Node[] }

export const FINDNODE_PREFIX = 'findnode:'

/** Merge nodes into the context: dedupe by id, keep the k closest (geth lookup.addNodes). */
function mergeNodes(
  ctx: LookupContext,
  nodes: readonly Node[],
): { ctx: Partial<LookupContext>; fresh: Node[] } {
  let seen = ctx.seen
  const result = [...ctx.result]
  const fresh: Node[] = []
  for (const n of nodes) {
    if (!(n?.id instanceof Uint8Array)) continue
    const key = idKey(n.id)
    if (seen[key]) continue
    if (seen === ctx.seen) seen = { ...ctx.seen }
    seen[key] = true
    pushByDistance(result, n, ctx.target, BUCKET_SIZE)
    fresh.push(n)
  }
  return { ctx: { seen, result }, fresh }
}

/** The slot of a `findnode:<slot>` child id, or -1 when the id is not one (exactly `findnode:` + digits). */
function slotOf(actorId: string): number {
  if (!actorId.startsWith(FINDNODE_PREFIX)) return -1
  const tail = actorId.slice(FINDNODE_PREFIX.length)
  const slot = Number(tail)
  return Number.isInteger(slot) && slot >= 0 && String(slot) === tail ? slot : -1
}

export const lookupMachine = setup({
  types: {
    context: {} as LookupContext,
    input: {} as LookupInput,
    events: {} as LookupEvent,
    output: {} as Node[],
    emitted: {} as LookupEmitted,
  },
  actors: {
    seed: fromPromise<Node[], SeedInput>(async ({ input }) => input.seeds ?? []),
    waitForNodes: fromPromise<void, { target: NodeId }>(async () => {}),
    findnode: fromPromise<Node[], FindnodeInput>(async () => {
      throw new Error('findnode actor not provided')
    }),
  },
  delays: {
    tableRefillTimeout: TABLE_REFILL_TIMEOUT_MS,
  },
  guards: {
    hasNodes: (_, params: { nodes: unknown }) =>
      Array.isArray(params.nodes) && params.nodes.some((n: Node | undefined) => n?.id instanceof Uint8Array),
    isRefilled: ({ context }) => context.refilled,
    isFinished: ({ context }) => context.inFlight.length === 0,
    isQuery: ({ context }, params: { actorId: string }) => {
      const slot = slotOf(params.actorId)
      return slot >= 0 && (context.slots[slot] ?? '') !== ''
    },
  },
  actions: {
    addNodes: enqueueActions(({ context, enqueue }, params: { nodes: unknown }) => {
      const { ctx, fresh } = mergeNodes(context, Array.isArray(params.nodes) ? params.nodes : [])
      enqueue.assign(ctx)
      if (fresh.length > 0) enqueue(emit({ type: 'lookup.found' as const, nodes: fresh }))
    }),
    markRefilled: assign({ refilled: true }),
    finishQuery: assign(({ context }, params: { actorId: string; failed: boolean }) => {
      const slot = slotOf(params.actorId)
      const key = context.slots[slot]
      const slots = [...context.slots]
      slots[slot] = ''
      return {
        inFlight: context.inFlight.filter((k) => k !== key),
        slots,
        failures: context.failures + (params.failed ? 1 : 0),
      }
    }),
    stopQuery: stopChild((_, params: { actorId: string }) => params.actorId),
    /** Ask the closest not-yet-asked nodes until α are in flight (geth lookup.startQueries). */
    startQueries: enqueueActions(({ context, enqueue }) => {
      const asked = { ...context.asked }
      const inFlight = [...context.inFlight]
      const slots = [...context.slots]
      const picks: { node: Node; slot: number }[] = []
      for (const n of context.result) {
        if (inFlight.length >= ALPHA) break
        const key = idKey(n.id)
        if (asked[key]) continue
        asked[key] = true
        inFlight.push(key)
        const slot = slots.indexOf('')
        slots[slot] = key
        picks.push({ node: n, slot })
      }
      if (picks.length === 0) return
      enqueue.assign({
        asked,
        inFlight,
        slots,
        queries: context.queries + picks.length,
        maxInFlight: Math.max(context.maxInFlight, inFlight.length),
      })
      for (const { node, slot } of picks)
        enqueue.spawnChild('findnode', {
          id: `${FINDNODE_PREFIX}${slot}`,
          input: { node, target: context.target },
        })
    }),
  },
}).createMachine({
  id: 'lookup',
  context: ({ input }) => {
    const self: Record<string, true> = input.selfId ? { [idKey(input.selfId)]: true } : {}
    return {
      target: input.target,
      result: [],
      seen: { ...self },
      asked: { ...self },
      inFlight: [],
      slots: new Array<string>(ALPHA).fill(''),
      maxInFlight: 0,
      queries: 0,
      failures: 0,
      refilled: false,
      seeds: input.seeds,
    }
  },
  output: ({ context }) => context.result,
  initial: 'seeding',
  on: {
    'lookup.cancel': { target: '.done' },
  },
  states: {
    seeding: {
      initial: 'fetching',
      states: {
        fetching: {
          invoke: {
            src: 'seed',
            id: 'seed',
            input: ({ context }) => ({ target: context.target, seeds: context.seeds }),
            onDone: [
              {
                guard: { type: 'hasNodes', params: ({ event }) => ({ nodes: event.output }) },
                target: '#lookup.querying',
                actions: { type: 'addNodes', params: ({ event }) => ({ nodes: event.output }) },
              },
              { guard: 'isRefilled', target: '#lookup.done' },
              { target: 'refilling' },
            ],
            onError: [{ guard: 'isRefilled', target: '#lookup.done' }, { target: 'refilling' }],
          },
        },
        refilling: {
          invoke: {
            src: 'waitForNodes',
            id: 'waitForNodes',
            input: ({ context }) => ({ target: context.target }),
            onDone: { target: 'fetching', actions: 'markRefilled' },
            onError: { target: '#lookup.done' },
          },
          after: { tableRefillTimeout: { target: '#lookup.done' } },
        },
      },
    },
    querying: {
      entry: 'startQueries',
      always: { guard: 'isFinished', target: 'done' },
      on: {
        'xstate.done.actor.*': {
          guard: { type: 'isQuery', params: ({ event }) => ({ actorId: event.actorId }) },
          actions: [
            { type: 'stopQuery', params: ({ event }) => ({ actorId: event.actorId }) },
            { type: 'finishQuery', params: ({ event }) => ({ actorId: event.actorId, failed: false }) },
            {
              type: 'addNodes',
              params: ({ event }) => ({
                nodes: 'output' in event && Array.isArray(event.output) ? event.output : [],
              }),
            },
            'startQueries',
          ],
        },
        'xstate.error.actor.*': {
          guard: { type: 'isQuery', params: ({ event }) => ({ actorId: event.actorId }) },
          actions: [
            { type: 'stopQuery', params: ({ event }) => ({ actorId: event.actorId }) },
            { type: 'finishQuery', params: ({ event }) => ({ actorId: event.actorId, failed: true }) },
            'startQueries',
          ],
        },
      },
    },
    done: { type: 'final' },
  },
})
