// Model-based and scenario tests of machines/lookup.machine.ts. The model part walks every shortest path of
// the machine's own state graph (xstate/graph getShortestPaths over a tiny fake network) and replays each path
// against a real actor whose seed / waitForNodes / findnode actors are controllable promises, on a
// SimulatedClock. The scenario part runs lookups on a 300-node synthetic Kademlia network.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { createActor, fromPromise, SimulatedClock, type SnapshotFrom, toPromise } from 'xstate'
import { getShortestPaths, getSimplePaths, type StatePath } from 'xstate/graph'
import { seededRng, Table } from '../../actors/discovery/table.ts'
import { closest, idKey } from '../../codecs/kad.ts'
import type { Node, NodeId } from '../../codecs/node.ts'
import {
  type FindnodeInput,
  type LookupEvent,
  lookupMachine,
  nextLookupDelay,
  type SeedInput,
  TABLE_REFILL_TIMEOUT_MS,
} from '../../machines/lookup.machine.ts'

type Snap = SnapshotFrom<typeof lookupMachine>
/** `key`: for findnode children, the node asked (the child id names its slot, `findnode:<slot>`) */
type AnyEvent = { type: string; output?: unknown; error?: unknown; actorId?: string; key?: string }

const AFTER_REFILL = 'xstate.after.tableRefillTimeout.lookup.seeding.refilling'

function mkNode(id: NodeId): Node {
  return { id, pubkey: new Uint8Array(64), ip: '127.0.0.1', udp: 30303, tcp: 30303 }
}
function idWithFirstByte(b: number): NodeId {
  const id = new Uint8Array(32)
  id[0] = b
  id[31] = 1
  return id
}

// ---- the tiny model network: target 0, nodes n1..n5 at increasing distance, self at 6 ----
const target = new Uint8Array(32)
const self = mkNode(idWithFirstByte(6))
const n = [1, 2, 3, 4, 5].map((b) => mkNode(idWithFirstByte(b)))
const k = (node: Node) => idKey(node.id)
const replies: Record<string, Node[]> = {
  [k(n[3]!)]: [n[0]!, n[2]!, self],
  [k(n[4]!)]: [n[1]!, n[3]!],
  [k(n[0]!)]: [],
  [k(n[1]!)]: [n[0]!],
  [k(n[2]!)]: [n[4]!],
}
const seeds = [n[3]!, n[4]!]

function serialize(s: Snap): string {
  const c = s.context
  return JSON.stringify({
    value: s.value,
    inFlight: [...c.inFlight].sort(),
    asked: Object.keys(c.asked).sort(),
    result: c.result.map(k),
    failures: c.failures,
  })
}

interface Model {
  seeds: Node[]
  replies: Record<string, Node[]>
}
const fullModel: Model = { seeds, replies }
/** three nodes only: small enough to walk every simple path */
const smallModel: Model = {
  seeds: [n[3]!, n[4]!],
  replies: { [k(n[3]!)]: [n[0]!, self], [k(n[4]!)]: [n[0]!], [k(n[0]!)]: [n[3]!] },
}

const modelEvents =
  (m: Model) =>
  (s: Snap): AnyEvent[] => {
    const { seeds, replies } = m
    if (s.status !== 'active') return []
    const evs: AnyEvent[] = [{ type: 'lookup.cancel' }]
    if (s.matches({ seeding: 'fetching' })) {
      evs.push({ type: 'xstate.done.actor.seed', output: seeds, actorId: 'seed' })
      evs.push({ type: 'xstate.done.actor.seed', output: [], actorId: 'seed' })
      evs.push({ type: 'xstate.error.actor.seed', error: new Error('table closed'), actorId: 'seed' })
    } else if (s.matches({ seeding: 'refilling' })) {
      evs.push({ type: 'xstate.done.actor.waitForNodes', output: undefined, actorId: 'waitForNodes' })
      evs.push({
        type: 'xstate.error.actor.waitForNodes',
        error: new Error('closed'),
        actorId: 'waitForNodes',
      })
      evs.push({ type: AFTER_REFILL })
    } else if (s.matches('querying')) {
      for (const key of s.context.inFlight) {
        const actorId = `findnode:${s.context.slots.indexOf(key)}`
        evs.push({ type: `xstate.done.actor.${actorId}`, output: replies[key] ?? [], actorId, key })
        evs.push({ type: `xstate.error.actor.${actorId}`, error: new Error('timeout'), actorId, key })
      }
    }
    return evs
  }

/** Promises the test resolves by hand, one per running child (`seed`, `waitForNodes`, `findnode:<node key>`). */
class Controller {
  pending = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; signal: AbortSignal }
  >()
  running = 0
  maxRunning = 0
  wait<T>(id: string, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, signal })
    })
  }
  settle(id: string, ok: boolean, value?: unknown) {
    const p = this.pending.get(id)
    assert.ok(p, `no running child ${id}`)
    this.pending.delete(id)
    if (ok) p.resolve(value)
    else p.reject(value)
  }
}

function controlledMachine(ctl: Controller) {
  return lookupMachine.provide({
    actors: {
      seed: fromPromise<Node[], SeedInput>(({ signal }) => ctl.wait('seed', signal)),
      waitForNodes: fromPromise<void, { target: NodeId }>(({ signal }) => ctl.wait('waitForNodes', signal)),
      findnode: fromPromise<Node[], FindnodeInput>(({ input, signal }) =>
        ctl.wait(`findnode:${idKey(input.node.id)}`, signal),
      ),
    },
  })
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

/** The controller's name for the child an event settles (findnode children are keyed by the node asked). */
const childOf = (ev: AnyEvent): string => (ev.key !== undefined ? `findnode:${ev.key}` : ev.actorId!)

function findnodeChildren(s: Snap): string[] {
  return Object.keys(s.children).filter((id) => id.startsWith('findnode:'))
}

type ModelPath = StatePath<Snap, LookupEvent>

/** Replay one model path on a real actor with controllable children; returns the final snapshot. */
async function replay(path: ModelPath): Promise<Snap> {
  const ctl = new Controller()
  const clock = new SimulatedClock()
  const actor = createActor(controlledMachine(ctl), { input: { target, selfId: self.id }, clock })
  const errors: unknown[] = []
  actor.subscribe({ error: (e) => errors.push(e) })
  actor.start()
  await flush()
  for (const step of path.steps) {
    const ev = step.event as AnyEvent
    if (ev.type === 'xstate.init') continue
    if (ev.type === 'lookup.cancel') actor.send({ type: 'lookup.cancel' })
    else if (ev.type === AFTER_REFILL) clock.increment(TABLE_REFILL_TIMEOUT_MS)
    else if (ev.type.startsWith('xstate.done.actor.')) ctl.settle(childOf(ev), true, ev.output)
    else if (ev.type.startsWith('xstate.error.actor.')) ctl.settle(childOf(ev), false, ev.error)
    else assert.fail(`unexpected model event ${ev.type}`)
    await flush()
    const snap = actor.getSnapshot()
    assert.equal(
      serialize(snap),
      serialize(step.state as Snap),
      `path: ${path.steps.map((s) => s.event.type).join(' → ')}`,
    )
    // invariants on the real actor
    assert.ok(snap.context.inFlight.length <= 3)
    if (snap.status === 'active') {
      // one child per busy slot, and the busy slots ask exactly the nodes in flight
      assert.deepEqual(
        findnodeChildren(snap).sort(),
        snap.context.slots.flatMap((key, i) => (key ? [`findnode:${i}`] : [])).sort(),
      )
      assert.deepEqual(snap.context.slots.filter((x) => x).sort(), [...snap.context.inFlight].sort())
    }
    assert.ok(!snap.context.inFlight.includes(k(self)), 'self never queried')
    assert.ok(snap.context.result.length <= 16)
    assert.ok(!snap.context.result.some((r) => k(r) === k(self)), 'self never in the result')
    assert.deepEqual(snap.context.result.map(k), closest(target, snap.context.result, 16).map(k), 'sorted')
  }
  const end = actor.getSnapshot()
  if (end.status === 'done') {
    assert.deepEqual(end.output!.map(k), end.context.result.map(k))
    const last = path.steps.at(-1)!.event.type
    if (last.startsWith('xstate.done.actor.findnode') || last.startsWith('xstate.error.actor.findnode')) {
      // natural end: every node of the result was asked, nothing in flight
      for (const r of end.context.result) assert.equal(end.context.asked[k(r)], true)
      assert.equal(end.context.inFlight.length, 0)
    }
    // every pending fake child was stopped with the machine
    for (const p of ctl.pending.values()) assert.equal(p.signal.aborted, true)
  }
  assert.deepEqual(errors, [])
  actor.stop()
  return end
}

function modelPaths(kind: 'shortest' | 'simple', m: Model): ModelPath[] {
  const gen = kind === 'shortest' ? getShortestPaths : getSimplePaths
  return gen(lookupMachine, {
    input: { target, selfId: self.id },
    events: modelEvents(m) as (s: Snap) => LookupEvent[],
    serializeState: (s: Snap) => serialize(s),
    limit: 50_000,
  }) as ModelPath[]
}

test('model: every shortest path of the lookup machine, replayed against fake actors', async () => {
  const paths = modelPaths('shortest', fullModel)
  assert.ok(paths.length > 30, `only ${paths.length} paths`)
  const reached = new Set<string>()
  let finals = 0
  for (const path of paths) {
    const end = await replay(path)
    reached.add(JSON.stringify(end.value))
    if (end.status === 'done') finals++
  }
  for (const v of ['{"seeding":"fetching"}', '{"seeding":"refilling"}', '"querying"', '"done"'])
    assert.ok(reached.has(v), v)
  assert.ok(finals > 10)
})

test('model: every simple path of a three-node lookup, replayed against fake actors', async () => {
  const paths = modelPaths('simple', smallModel)
  assert.ok(paths.length > 20, `only ${paths.length} paths`)
  console.log(`# simple paths: ${paths.length}`)
  let done = 0
  for (const path of paths) if ((await replay(path)).status === 'done') done++
  assert.ok(done > 10)
})

test('model: a finished lookup asked all of the closest nodes and ends with none in flight', async () => {
  const ctl = new Controller()
  const actor = createActor(controlledMachine(ctl), { input: { target, selfId: self.id } })
  const childIds = new Set<string>()
  actor.subscribe({
    next: (snap) => {
      for (const id of findnodeChildren(snap)) childIds.add(id)
    },
    error: () => {},
  })
  actor.start()
  await flush()
  ctl.settle('seed', true, seeds)
  // answer whatever is in flight until done
  for (let i = 0; i < 20 && actor.getSnapshot().status === 'active'; i++) {
    await flush()
    for (const id of [...ctl.pending.keys()])
      ctl.settle(id, true, replies[id.slice('findnode:'.length)] ?? [])
    await flush()
  }
  const s = actor.getSnapshot()
  assert.equal(s.status, 'done')
  assert.deepEqual(s.output!.map(k), n.map(k))
  for (const node of n) assert.equal(s.context.asked[k(node)], true)
  assert.equal(s.context.inFlight.length, 0)
  assert.equal(s.context.queries, 5)
  assert.deepEqual(Object.keys(s.children), [])
  // five nodes asked through at most α = 3 reused child ids (the done event types stay a fixed few)
  assert.ok(
    [...childIds].every((id) => ['findnode:0', 'findnode:1', 'findnode:2'].includes(id)),
    [...childIds].join(),
  )
})

// ---- scenarios on a synthetic Kademlia network ----

/** Deterministic 32-byte ids. */
function hashId(seed: string): NodeId {
  return new Uint8Array(createHash('sha256').update(seed).digest())
}

interface Network {
  nodes: Node[]
  tables: Map<string, Table>
}

/** 300 nodes; each one's table is filled with every other node in random order (16 per bucket kept). */
function buildNetwork(size: number, seed: number): Network {
  const rng = seededRng(seed)
  const nodes = Array.from({ length: size }, (_, i) => ({
    ...mkNode(hashId(`node-${seed}-${i}`)),
    ip: `10.${i >> 8}.${i & 255}.1`,
  }))
  const tables = new Map<string, Table>()
  for (const node of nodes) {
    const t = new Table({ selfId: node.id, rng, now: () => 0 })
    const order = [...nodes]
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.intn(i + 1)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    for (const o of order) t.addFoundNode(o)
    tables.set(k(node), t)
  }
  return { nodes, tables }
}

interface RunStats {
  output: Node[]
  maxRunning: number
  queries: number
  found: Set<string>
  snapshot: Snap
}

async function runLookup(
  net: Network,
  from: Node,
  tgt: NodeId,
  opts: { dead?: Set<string>; seed: number },
): Promise<RunStats> {
  const rng = seededRng(opts.seed)
  let running = 0
  let maxRunning = 0
  let queries = 0
  const machine = lookupMachine.provide({
    actors: {
      seed: fromPromise<Node[], SeedInput>(async ({ input }) =>
        net.tables.get(k(from))!.findnodeByID(input.target, 16),
      ),
      findnode: fromPromise<Node[], FindnodeInput>(async ({ input }) => {
        running++
        queries++
        maxRunning = Math.max(maxRunning, running)
        try {
          for (let i = rng.intn(4); i > 0; i--) await new Promise((r) => setImmediate(r))
          if (opts.dead?.has(k(input.node))) throw new Error('timeout')
          return net.tables.get(k(input.node))!.findnodeByID(input.target, 16)
        } finally {
          running--
        }
      }),
    },
  })
  const actor = createActor(machine, { input: { target: tgt, selfId: from.id }, systemId: 'lookup:1' })
  const found = new Set<string>()
  actor.on('lookup.found', (e) => {
    for (const x of e.nodes) found.add(k(x))
  })
  actor.subscribe({ error: (e) => assert.fail(String(e)) })
  actor.start()
  const output = await toPromise(actor)
  return { output, maxRunning, queries, found, snapshot: actor.getSnapshot() }
}

const net = buildNetwork(300, 1)

test('scenario: on a 300-node network every lookup finds the true 16 closest; α = 3 never exceeded', async () => {
  let totalQueries = 0
  let maxQueries = 0
  for (let i = 0; i < 30; i++) {
    const from = net.nodes[(i * 37) % net.nodes.length]!
    const tgt = hashId(`target-${i}`)
    const want = closest(
      tgt,
      net.nodes.filter((x) => k(x) !== k(from)),
      16,
    ).map(k)
    const r = await runLookup(net, from, tgt, { seed: i })
    assert.deepEqual(r.output.map(k), want, `lookup ${i}`)
    assert.equal(r.maxRunning, 3, 'observed concurrency')
    assert.equal(r.snapshot.context.maxInFlight, 3)
    assert.equal(r.queries, r.snapshot.context.queries)
    // emitted nodes are exactly the nodes seen (self excluded)
    assert.deepEqual(
      [...r.found].sort(),
      Object.keys(r.snapshot.context.seen)
        .filter((x) => x !== k(from))
        .sort(),
    )
    assert.deepEqual(Object.keys(r.snapshot.children), [])
    totalQueries += r.queries
    maxQueries = Math.max(maxQueries, r.queries)
  }
  // termination is bounded: a lookup asks few more nodes than the k it returns
  assert.ok(maxQueries <= 40, `max queries ${maxQueries}`)
  console.log(`# lookups on 300 nodes: mean ${(totalQueries / 30).toFixed(1)} queries, max ${maxQueries}`)
})

test('scenario: with 10 % dead nodes lookups still terminate and find nearly all of the closest', async () => {
  const rng = seededRng(99)
  const dead = new Set(net.nodes.filter(() => rng.intn(10) === 0).map(k))
  let overlap = 0
  for (let i = 0; i < 20; i++) {
    const from = net.nodes.filter((x) => !dead.has(k(x)))[i]!
    const tgt = hashId(`dead-target-${i}`)
    const want = new Set(
      closest(
        tgt,
        net.nodes.filter((x) => k(x) !== k(from)),
        16,
      ).map(k),
    )
    const r = await runLookup(net, from, tgt, { dead, seed: 100 + i })
    assert.ok(r.maxRunning <= 3)
    assert.equal(r.snapshot.context.inFlight.length, 0)
    assert.ok(r.snapshot.context.failures > 0 || ![...want].some((x) => dead.has(x)))
    overlap += r.output.filter((x) => want.has(k(x))).length
  }
  assert.ok(overlap / 20 >= 15, `mean overlap ${overlap / 20}`)
})

test('scenario: sparse tables (16 nearest + 24 random per node) still converge to the true closest', async () => {
  const rng = seededRng(5)
  const sparse: Network = { nodes: net.nodes, tables: new Map() }
  for (const node of net.nodes) {
    const t = new Table({ selfId: node.id, rng, now: () => 0 })
    for (const x of closest(node.id, net.nodes, 17)) t.addFoundNode(x)
    for (let i = 0; i < 24; i++) t.addFoundNode(net.nodes[rng.intn(net.nodes.length)]!)
    sparse.tables.set(k(node), t)
  }
  let exact = 0
  let queries = 0
  const runs = 40
  for (let i = 0; i < runs; i++) {
    const from = net.nodes[(i * 53) % net.nodes.length]!
    const tgt = hashId(`sparse-target-${i}`)
    const want = closest(
      tgt,
      net.nodes.filter((x) => k(x) !== k(from)),
      16,
    ).map(k)
    const r = await runLookup(sparse, from, tgt, { seed: 500 + i })
    assert.ok(r.maxRunning <= 3)
    if (r.output.map(k).join() === want.join()) exact++
    queries += r.queries
  }
  console.log(`# sparse network: ${exact}/${runs} exact, mean ${(queries / runs).toFixed(1)} queries`)
  assert.ok(exact / runs >= 0.95, `${exact}/${runs}`)
})

test('empty table: waits for a refill at most 60 s (SimulatedClock), then ends with no nodes', async () => {
  const clock = new SimulatedClock()
  let waits = 0
  let seeds = 0
  const machine = lookupMachine.provide({
    actors: {
      seed: fromPromise<Node[], SeedInput>(async () => {
        seeds++
        return []
      }),
      waitForNodes: fromPromise<void, { target: NodeId }>(({ signal }) => {
        waits++
        return new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('aborted'))),
        )
      }),
    },
  })
  const actor = createActor(machine, { input: { target }, clock })
  actor.subscribe({ error: (e) => assert.fail(String(e)) })
  actor.start()
  await flush()
  assert.ok(actor.getSnapshot().matches({ seeding: 'refilling' }))
  clock.increment(TABLE_REFILL_TIMEOUT_MS - 1)
  await flush()
  assert.ok(actor.getSnapshot().matches({ seeding: 'refilling' }))
  clock.increment(1)
  await flush()
  assert.equal(actor.getSnapshot().status, 'done')
  assert.deepEqual(actor.getSnapshot().output, [])
  assert.equal(waits, 1)
  assert.equal(seeds, 1)
})

test('empty table: after a refill the lookup seeds again and queries; a second empty seeding ends it', async () => {
  const table = new Table({ selfId: self.id })
  const machine = lookupMachine.provide({
    actors: {
      seed: fromPromise<Node[], SeedInput>(async ({ input }) => table.findnodeByID(input.target, 16)),
      waitForNodes: fromPromise<void, { target: NodeId }>(async () => {
        for (const x of seeds) table.addFoundNode(x)
      }),
      findnode: fromPromise<Node[], FindnodeInput>(async ({ input }) => replies[k(input.node)] ?? []),
    },
  })
  const out = await toPromise(createActor(machine, { input: { target, selfId: self.id } }).start())
  assert.deepEqual(out.map(k), n.map(k))
  // a table that stays empty: refill resolves, seeding is empty again → done
  const empty = lookupMachine.provide({ actors: { waitForNodes: fromPromise(async () => {}) } })
  const a = createActor(empty, { input: { target } })
  a.start()
  assert.deepEqual(await toPromise(a), [])
  assert.equal(a.getSnapshot().context.refilled, true)
})

test('lookup.cancel ends at once with the nodes seen so far and aborts the queries in flight', async () => {
  const ctl = new Controller()
  const actor = createActor(controlledMachine(ctl), {
    input: { target, selfId: self.id },
    systemId: 'lookup:7',
  })
  assert.equal(actor.system.get('lookup:7'), actor)
  actor.start()
  await flush()
  ctl.settle('seed', true, seeds)
  await flush()
  assert.equal(ctl.pending.size, 2)
  const signals = [...ctl.pending.values()].map((p) => p.signal)
  actor.send({ type: 'lookup.cancel' })
  await flush()
  assert.equal(actor.getSnapshot().status, 'done')
  assert.deepEqual(actor.getSnapshot().output!.map(k), [n[3]!, n[4]!].map(k))
  for (const s of signals) assert.equal(s.aborted, true)
})

test('replies with duplicates, self, holes and stale children are ignored safely', async () => {
  const junk = [
    n[0]!,
    n[0]!,
    self,
    undefined as unknown as Node,
    { id: n[1]!.id, pubkey: new Uint8Array(64) },
  ]
  const machine = lookupMachine.provide({
    actors: { findnode: fromPromise<Node[], FindnodeInput>(async () => junk) },
  })
  const found: string[] = []
  const actor = createActor(machine, { input: { target, selfId: self.id, seeds: [n[4]!] } })
  actor.on('lookup.found', (e) => found.push(...e.nodes.map(k)))
  actor.start()
  // an event for a child that is not in flight changes nothing
  actor.send({ type: 'xstate.done.actor.findnode:00', output: [n[2]!], actorId: 'findnode:00' })
  const out = await toPromise(actor)
  assert.deepEqual(out.map(k), [n[0]!, n[1]!, n[4]!].map(k))
  assert.deepEqual(found, [n[4]!, n[0]!, n[1]!].map(k))
  assert.equal(actor.getSnapshot().context.queries, 3)
})

test('nextLookupDelay spaces an iterator’s lookups at least 1 s apart (geth slowdown)', () => {
  assert.equal(nextLookupDelay(undefined, 5_000), 0)
  assert.equal(nextLookupDelay(4_000, 5_000), 0)
  assert.equal(nextLookupDelay(4_700, 5_000), 700)
  assert.equal(nextLookupDelay(5_000, 5_000), 1_000)
})

test('malformed actor outputs (non-arrays, nodes without ids) never throw inside the machine', async () => {
  const machine = lookupMachine.provide({
    actors: {
      seed: fromPromise<Node[], SeedInput>(async () => [
        { pubkey: new Uint8Array(64) } as unknown as Node,
        n[4]!,
      ]),
      findnode: fromPromise<Node[], FindnodeInput>(async () => null as unknown as Node[]),
    },
  })
  const errors: unknown[] = []
  const actor = createActor(machine, { input: { target } })
  actor.subscribe({ error: (e) => errors.push(e) })
  actor.start()
  assert.deepEqual((await toPromise(actor)).map(k), [k(n[4]!)])
  const bad = lookupMachine.provide({
    actors: { seed: fromPromise<Node[], SeedInput>(async () => 7 as never) },
  })
  const b = createActor(bad, { input: { target } })
  b.subscribe({ error: (e) => errors.push(e) })
  b.start()
  assert.deepEqual(await toPromise(b), [])
  assert.deepEqual(errors, [])
})
