import assert from 'node:assert/strict'
import { test } from 'node:test'
import { NodeDb } from '../../../actors/discovery/nodedb.ts'
import {
  MAX_REPLACEMENTS,
  N_BUCKETS,
  nextRefreshDelay,
  PING_INTERVAL_MS,
  SLOW_REVALIDATION_FACTOR,
  seededRng,
  Table,
  type TableEvent,
  trackFindnode,
} from '../../../actors/discovery/table.ts'
import { BUCKET_SIZE, idKey } from '../../../codecs/kad.ts'
import type { Node } from '../../../codecs/node.ts'
import { fakeNode, idAtDistance, randomId, toBig } from './helpers.ts'

function setup(opts: { init?: boolean; seed?: number } = {}) {
  let now = 1_000_000
  const self = randomId()
  const stored: Node[] = []
  const revalidating: Node[] = []
  const table = new Table({
    selfId: self,
    now: () => now,
    rng: seededRng(opts.seed ?? 7),
    effects: { storeNode: (n) => stored.push(n), revalidate: (n) => revalidating.push(n) },
  })
  if (opts.init !== false) table.markInitDone()
  return {
    table,
    self,
    stored,
    revalidating,
    advance: (ms: number) => {
      now += ms
    },
    now: () => now,
  }
}

let ipCounter = 0
/** a public IP in its own /24 on every call */
function uniqueIp(): string {
  ipCounter++
  return `${40 + (ipCounter >> 16)}.${(ipCounter >> 8) & 255}.${ipCounter & 255}.1`
}

const keys = (ns: Node[]) => ns.map((n) => idKey(n.id))

test('17 buckets; log distance ≤ 240 → bucket 0, 241 → 1, 256 → 16 (geth bucketAtDistance)', () => {
  const { table, self } = setup()
  assert.equal(N_BUCKETS, 17)
  assert.equal(table.bucketIndex(idAtDistance(self, 256)), 16)
  assert.equal(table.bucketIndex(idAtDistance(self, 241)), 1)
  assert.equal(table.bucketIndex(idAtDistance(self, 240)), 0)
  assert.equal(table.bucketIndex(idAtDistance(self, 239)), 0)
  assert.equal(table.bucketIndex(idAtDistance(self, 1)), 0)
})

test('a bucket holds 16 entries; further nodes become replacements (newest first, at most 10)', () => {
  const { table, self } = setup()
  const added: Node[] = []
  for (let i = 0; i < BUCKET_SIZE; i++) {
    const n = fakeNode(idAtDistance(self, 256), uniqueIp())
    assert.equal(table.addFoundNode(n), true)
    added.push(n)
  }
  assert.equal(table.len(), 16)
  const extra: Node[] = []
  for (let i = 0; i < 12; i++) {
    const n = fakeNode(idAtDistance(self, 256), uniqueIp())
    assert.equal(table.addFoundNode(n), false)
    extra.push(n)
  }
  assert.equal(table.len(), 16)
  const reps = table.replacements(self.map((b, i) => (i === 0 ? b ^ 0x80 : b)))
  assert.equal(reps.length, MAX_REPLACEMENTS)
  assert.deepEqual(keys(reps), keys(extra.slice(2).reverse()))
  // re-adding a known node is a no-op
  assert.equal(table.addFoundNode(added[0]!), false)
  assert.equal(table.len(), 16)
  assert.deepEqual(keys(table.buckets()[16]!.map((b) => b.node)), keys(added))
})

test('self is never added; nodes without a usable IP are refused', () => {
  const { table, self } = setup()
  assert.equal(table.addFoundNode(fakeNode(self, '1.2.3.4')), false)
  const noIp = fakeNode(randomId())
  delete noIp.ip
  assert.equal(table.addFoundNode(noIp), false)
  assert.equal(table.addFoundNode(fakeNode(randomId(), '0.0.0.0')), false)
  assert.equal(table.addFoundNode(fakeNode(randomId(), 'garbage')), false)
  assert.equal(table.len(), 0)
})

test('inbound nodes are refused until the first refresh is done (geth isInitDone)', () => {
  const { table } = setup({ init: false })
  const n = fakeNode(randomId(), uniqueIp())
  assert.equal(table.isInitDone(), false)
  assert.equal(table.addInboundNode(n), false)
  assert.equal(table.len(), 0)
  assert.equal(table.addFoundNode(fakeNode(randomId(), uniqueIp())), true)
  table.markInitDone()
  assert.equal(table.addInboundNode(n), true)
  assert.equal(table.len(), 2)
})

test('IP limits: 2 per /24 in a bucket, 10 per /24 in the table, LAN exempt', () => {
  const { table, self } = setup()
  // bucket limit
  assert.equal(table.addFoundNode(fakeNode(idAtDistance(self, 256), '50.1.1.1')), true)
  assert.equal(table.addFoundNode(fakeNode(idAtDistance(self, 256), '50.1.1.2')), true)
  assert.equal(table.addFoundNode(fakeNode(idAtDistance(self, 256), '50.1.1.3')), false)
  // the same /24 still fits in other buckets, up to 10 in the whole table
  let ok = 2
  for (let d = 255; d >= 241 && ok < 12; d--) {
    for (let j = 0; j < 2; j++)
      if (table.addFoundNode(fakeNode(idAtDistance(self, d), `50.1.1.${10 + d * 2 + j - 480}`))) ok++
  }
  assert.equal(ok, 10)
  assert.equal(table.len(), 10)
  // LAN addresses are exempt: 16 from one /24 fill a bucket
  for (let i = 0; i < 16; i++)
    assert.equal(table.addFoundNode(fakeNode(idAtDistance(self, 241), `192.168.0.${i + 1}`)), true)
  // removing frees the slot
  const victim = table.buckets()[16]![0]!.node
  table.deleteNode(victim.id)
  assert.equal(table.addFoundNode(fakeNode(idAtDistance(self, 256), '50.1.1.99')), true)
})

test('replacements count against the IP limits and release them when dropped off the list', () => {
  const { table, self } = setup()
  for (let i = 0; i < BUCKET_SIZE; i++) table.addFoundNode(fakeNode(idAtDistance(self, 256), uniqueIp()))
  table.addFoundNode(fakeNode(idAtDistance(self, 256), '60.0.0.1'))
  table.addFoundNode(fakeNode(idAtDistance(self, 256), '60.0.0.2'))
  table.addFoundNode(fakeNode(idAtDistance(self, 256), '60.0.0.3')) // over the bucket /24 limit
  assert.equal(table.replacements(idAtDistance(self, 256)).length, 2)
  for (let i = 0; i < MAX_REPLACEMENTS; i++) table.addFoundNode(fakeNode(idAtDistance(self, 256), uniqueIp()))
  // both 60.0.0.x replacements were pushed off: the /24 is free again
  table.addFoundNode(fakeNode(idAtDistance(self, 256), '60.0.0.4'))
  table.addFoundNode(fakeNode(idAtDistance(self, 256), '60.0.0.5'))
  const reps = table.replacements(idAtDistance(self, 256)).map((n) => n.ip)
  assert.deepEqual(reps.slice(0, 2), ['60.0.0.5', '60.0.0.4'])
})

test('deleteNode promotes a random replacement; events are emitted', () => {
  const { table, self } = setup()
  const events: TableEvent[] = []
  const unsub = table.subscribe((e) => events.push(e))
  const entries: Node[] = []
  for (let i = 0; i < BUCKET_SIZE; i++) {
    const n = fakeNode(idAtDistance(self, 250), uniqueIp())
    table.addFoundNode(n)
    entries.push(n)
  }
  const reps: Node[] = []
  for (let i = 0; i < 3; i++) {
    const n = fakeNode(idAtDistance(self, 250), uniqueIp())
    table.addFoundNode(n)
    reps.push(n)
  }
  assert.equal(events.length, 16)
  const replacement = table.deleteNode(entries[3]!.id)
  assert.ok(replacement)
  assert.ok(keys(reps).includes(idKey(replacement.id)))
  assert.equal(table.len(), 16)
  assert.equal(table.getNode(entries[3]!.id), undefined)
  assert.ok(table.getNode(replacement.id))
  assert.equal(table.replacements(entries[0]!.id).length, 2)
  assert.deepEqual(
    events.slice(16).map((e) => [e.type, e.bucket]),
    [
      ['table.removed', 10],
      ['table.added', 10],
    ],
  )
  unsub()
  // without replacements the bucket just shrinks
  const lone = fakeNode(idAtDistance(self, 256), uniqueIp())
  table.addFoundNode(lone)
  assert.equal(table.deleteNode(lone.id), undefined)
  assert.equal(table.getNode(lone.id), undefined)
  assert.equal(events.length, 18)
})

test('findnodeByID returns the n closest, closest first; preferLive restricts to checked nodes', () => {
  const { table } = setup()
  const nodes: Node[] = []
  for (let i = 0; i < 200; i++) {
    const n = fakeNode(randomId(), uniqueIp())
    if (table.addFoundNode(n)) nodes.push(n)
  }
  const target = randomId()
  const want = [...table.nodes()]
    .sort((a, b) => {
      const d = (toBig(a.id) ^ toBig(target)) - (toBig(b.id) ^ toBig(target))
      return d < 0n ? -1 : d > 0n ? 1 : 0
    })
    .slice(0, 16)
  assert.deepEqual(keys(table.findnodeByID(target, 16)), keys(want))
  // no live nodes yet: preferLive falls back to all
  assert.deepEqual(keys(table.findnodeByID(target, 16, true)), keys(want))
  const live = fakeNode(idAtDistance(table.selfId, 243), uniqueIp()) // a bucket with room
  assert.equal(table.addFoundNode(live, true), true)
  assert.deepEqual(keys(table.findnodeByID(target, 16, true)), keys([live]))
})

test('bump rules: found nodes must advance the seq, inbound may change anything (geth bumpInBucket)', () => {
  const { table, self } = setup()
  const id = idAtDistance(self, 256)
  assert.equal(table.addFoundNode(fakeNode(id, '70.0.0.1', 30303, 5n)), true)
  // same seq, new port: ignored
  table.addFoundNode(fakeNode(id, '70.0.0.1', 40000, 5n))
  assert.equal(table.getNode(id)!.udp, 30303)
  // higher seq: applied; endpoint change → fast list, not live
  table.addFoundNode(fakeNode(id, '70.0.0.2', 40000, 6n))
  assert.equal(table.getNode(id)!.udp, 40000)
  assert.equal(table.getNode(id)!.ip, '70.0.0.2')
  assert.equal(table.revalidationList(id), 'fast')
  // inbound with a lower seq is still applied
  table.addInboundNode(fakeNode(id, '70.0.0.3', 40001, 1n))
  assert.equal(table.getNode(id)!.udp, 40001)
  // an IP change that breaks the bucket limit is refused and the old record kept
  table.addFoundNode(fakeNode(idAtDistance(self, 256), '80.0.0.1'))
  table.addFoundNode(fakeNode(idAtDistance(self, 256), '80.0.0.2'))
  table.addInboundNode(fakeNode(id, '80.0.0.3', 1, 9n))
  assert.equal(table.getNode(id)!.ip, '70.0.0.3')
})

test('trackRequest: 5 consecutive failures remove a node only when its bucket has ≥ 4 entries', () => {
  const { table, self } = setup()
  const a = fakeNode(idAtDistance(self, 256), uniqueIp())
  table.addFoundNode(a)
  table.trackRequest(a, 5, [])
  assert.ok(table.getNode(a.id), 'kept: bucket too small')
  for (let i = 0; i < 3; i++) table.addFoundNode(fakeNode(idAtDistance(self, 256), uniqueIp()))
  table.trackRequest(a, 4, [])
  assert.ok(table.getNode(a.id), 'kept: 4 failures')
  const found = [fakeNode(randomId(), uniqueIp()), fakeNode(randomId(), uniqueIp())]
  table.trackRequest(a, 5, found)
  assert.equal(table.getNode(a.id), undefined)
  for (const f of found) assert.ok(table.getNode(f.id))
})

test('loadSeedNodes adds DB seeds and bootnodes', () => {
  const boot = fakeNode(randomId(), uniqueIp())
  const t = new Table({ selfId: randomId(), bootnodes: [boot] })
  const seed = fakeNode(randomId(), uniqueIp())
  t.loadSeedNodes([seed])
  assert.equal(t.len(), 2)
  assert.deepEqual(keys(t.bootnodes()), keys([boot]))
  t.deleteNode(boot.id)
  t.loadSeedNodes()
  assert.ok(t.getNode(boot.id))
})

test('revalidation: fast list on add, one node per list per due time, random next time < interval', () => {
  const { table, revalidating, now, advance } = setup()
  assert.equal(table.runRevalidation().nextTime, Number.POSITIVE_INFINITY)
  const n = fakeNode(randomId(), uniqueIp())
  table.addFoundNode(n)
  assert.equal(table.revalidationList(n.id), 'fast')
  const first = table.runRevalidation(now() - 1)
  assert.deepEqual(first.started, [])
  assert.ok(first.nextTime >= now() && first.nextTime < now() + PING_INTERVAL_MS)
  advance(PING_INTERVAL_MS)
  const r = table.runRevalidation()
  assert.deepEqual(keys(r.started), keys([n]))
  assert.deepEqual(keys(revalidating), keys([n]))
  assert.equal(table.activeRevalidations(), 1)
  // while in flight the node is not picked again
  advance(PING_INTERVAL_MS)
  assert.deepEqual(table.runRevalidation().started, [])
  // alive → slow list, checks 1, live
  const out = table.handleRevalidationResponse(n.id, { didRespond: true, remoteSeq: 0n })
  assert.deepEqual(out, { needsEnrRefresh: false })
  assert.equal(table.revalidationList(n.id), 'slow')
  assert.deepEqual(
    table
      .buckets()
      .flat()
      .map((b) => [b.checks, b.live]),
    [[1, true]],
  )
  const next = table.runRevalidation()
  assert.ok(next.nextTime < now() + PING_INTERVAL_MS * SLOW_REVALIDATION_FACTOR)
})

function revalidateOnce(t: ReturnType<typeof setup>, n: Node) {
  for (let i = 0; i < 100; i++) {
    t.advance(PING_INTERVAL_MS * SLOW_REVALIDATION_FACTOR)
    if (t.table.runRevalidation().started.some((s) => idKey(s.id) === idKey(n.id))) return
  }
  throw new Error('node never picked')
}

test('revalidation: dead node with no checks is removed and a random replacement promoted', () => {
  const t = setup()
  const entries: Node[] = []
  for (let i = 0; i < BUCKET_SIZE; i++) {
    const n = fakeNode(idAtDistance(t.self, 256), uniqueIp())
    t.table.addFoundNode(n)
    entries.push(n)
  }
  const rep = fakeNode(idAtDistance(t.self, 256), uniqueIp())
  t.table.addFoundNode(rep)
  const victim = entries[5]!
  revalidateOnce(t, victim)
  const out = t.table.handleRevalidationResponse(victim.id, { didRespond: false })
  assert.equal(idKey(out.removed!.id), idKey(victim.id))
  assert.equal(idKey(out.replacement!.id), idKey(rep.id))
  assert.equal(t.table.getNode(victim.id), undefined)
  assert.equal(t.table.revalidationList(rep.id), 'fast')
})

test('revalidation: failures divide the liveness counter by 3; survivors go back to the fast list', () => {
  const t = setup()
  const n = fakeNode(randomId(), uniqueIp())
  t.table.addFoundNode(n)
  for (let i = 0; i < 7; i++) {
    revalidateOnce(t, n)
    t.table.handleRevalidationResponse(n.id, { didRespond: true })
  }
  // more than 5 checks → stored as a seed
  assert.deepEqual(keys(t.stored), keys([n, n]))
  revalidateOnce(t, n)
  assert.deepEqual(t.table.handleRevalidationResponse(n.id, { didRespond: false }), {
    needsEnrRefresh: false,
  })
  assert.equal(t.table.buckets().flat()[0]!.checks, 2)
  assert.equal(t.table.revalidationList(n.id), 'fast')
  revalidateOnce(t, n)
  t.table.handleRevalidationResponse(n.id, { didRespond: false })
  assert.equal(t.table.getNode(n.id), undefined)
})

test('revalidation: a PONG with a higher seq asks for an ENR refresh; a new record with a new endpoint stays fast', () => {
  const t = setup()
  const id = randomId()
  t.table.addFoundNode(fakeNode(id, '90.0.0.1', 30303, 3n))
  revalidateOnce(t, t.table.getNode(id)!)
  assert.deepEqual(t.table.handleRevalidationResponse(id, { didRespond: true, remoteSeq: 4n }), {
    needsEnrRefresh: true,
  })
  assert.equal(t.table.revalidationList(id), 'slow')
  // the service fetched the record: found-node update with the higher seq
  t.table.addFoundNode(fakeNode(id, '90.0.0.1', 30304, 4n))
  assert.equal(t.table.getNode(id)!.udp, 30304)
  assert.equal(t.table.revalidationList(id), 'fast')
  // newRecord delivered with the response: endpoint changed → stays on the fast list, not live
  revalidateOnce(t, t.table.getNode(id)!)
  t.table.handleRevalidationResponse(id, {
    didRespond: true,
    remoteSeq: 5n,
    newRecord: fakeNode(id, '90.0.0.1', 30305, 5n),
  })
  assert.equal(t.table.getNode(id)!.udp, 30305)
  assert.equal(t.table.revalidationList(id), 'fast')
  assert.equal(t.table.buckets().flat()[0]!.live, false)
  // same endpoint, new seq → slow
  revalidateOnce(t, t.table.getNode(id)!)
  t.table.handleRevalidationResponse(id, {
    didRespond: true,
    remoteSeq: 6n,
    newRecord: fakeNode(id, '90.0.0.1', 30305, 6n),
  })
  assert.equal(t.table.revalidationList(id), 'slow')
  assert.equal(t.table.getNode(id)!.record!.seq, 6n)
})

test('revalidation: a response for a node removed meanwhile is ignored and does not re-add it', () => {
  const t = setup()
  const n = fakeNode(randomId(), uniqueIp())
  t.table.addFoundNode(n)
  revalidateOnce(t, n)
  t.table.deleteNode(n.id)
  assert.deepEqual(t.table.handleRevalidationResponse(n.id, { didRespond: true }), { needsEnrRefresh: false })
  assert.equal(t.table.getNode(n.id), undefined)
  assert.equal(t.table.activeRevalidations(), 0)
  // unknown ids are harmless
  assert.deepEqual(t.table.handleRevalidationResponse(randomId(), { didRespond: false }), {
    needsEnrRefresh: false,
  })
})

test('nextRefreshDelay is uniform in [15 min, 30 min)', () => {
  const rng = seededRng(1)
  let lo = Number.POSITIVE_INFINITY
  let hi = 0
  for (let i = 0; i < 2000; i++) {
    const d = nextRefreshDelay(rng)
    lo = Math.min(lo, d)
    hi = Math.max(hi, d)
  }
  assert.ok(lo >= 15 * 60_000 && lo < 16 * 60_000, String(lo))
  assert.ok(hi < 30 * 60_000 && hi > 29 * 60_000, String(hi))
  assert.equal(nextRefreshDelay({ intn: () => 0 }, 1000), 500)
})

test('trackFindnode keeps the consecutive failure count in the DB and resets it on success', async () => {
  const { table, self } = setup()
  const db = await NodeDb.open()
  const a = fakeNode(idAtDistance(self, 256), uniqueIp())
  table.addFoundNode(a)
  for (let i = 0; i < 3; i++) table.addFoundNode(fakeNode(idAtDistance(self, 256), uniqueIp()))
  for (let i = 1; i <= 4; i++) assert.equal(await trackFindnode(table, db, a, []), i)
  assert.equal(await trackFindnode(table, db, a, [fakeNode(randomId(), uniqueIp())]), 0)
  assert.equal(await db.findFails(a.id, a.ip), 0)
  for (let i = 1; i <= 4; i++) await trackFindnode(table, db, a, [])
  assert.ok(table.getNode(a.id))
  assert.equal(await trackFindnode(table, db, a, []), 5)
  assert.equal(table.getNode(a.id), undefined)
  await db.close()
})
