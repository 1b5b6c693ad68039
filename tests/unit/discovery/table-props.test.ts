// Property test of the table: random operation sequences keep geth's structural invariants and exact IP
// accounting (the per-/24 counters always equal the addresses held in entries + replacements).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { DistinctNetSet } from '../../../actors/discovery/netutil.ts'
import { isLan, subnetKey } from '../../../actors/discovery/netutil.ts'
import {
  MAX_REPLACEMENTS,
  N_BUCKETS,
  PING_INTERVAL_MS,
  seededRng,
  Table,
} from '../../../actors/discovery/table.ts'
import { BUCKET_SIZE, idKey } from '../../../codecs/kad.ts'
import type { Node } from '../../../codecs/node.ts'
import { fakeNode, idAtDistance, randomId } from './helpers.ts'

const self = randomId()
// 100 ids in the 2 farthest buckets, so buckets fill up and replacements are used
const ids = Array.from({ length: 100 }, (_, i) => idAtDistance(self, 256 - (i % 2)))
const ips = [
  ...Array.from({ length: 4 * 6 }, (_, i) => `50.0.${i % 4}.${1 + Math.floor(i / 4)}`),
  ...Array.from({ length: 20 }, (_, i) => `192.168.1.${1 + (i % 3)}`),
  '127.0.0.1',
  '0.0.0.0',
]

type Op =
  | { op: 'found' | 'inbound'; id: number; ip: number; seq: number; port: number }
  | { op: 'delete'; id: number }
  | { op: 'track'; id: number; fails: number }
  | { op: 'reval'; advance: number; alive: boolean; seq: number }
  | { op: 'init' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constantFrom('found' as const, 'inbound' as const),
      id: fc.nat(99),
      ip: fc.nat(ips.length - 1),
      seq: fc.nat(3),
      port: fc.constantFrom(30303, 30304),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), id: fc.nat(99) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('track' as const), id: fc.nat(99), fails: fc.nat(6) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('reval' as const),
      advance: fc.nat(PING_INTERVAL_MS * 4),
      alive: fc.boolean(),
      seq: fc.nat(4),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('init' as const) }) },
)

function checkInvariants(t: Table) {
  const buckets = t.buckets()
  assert.equal(buckets.length, N_BUCKETS)
  const where = new Map<string, string>()
  const tableCount = new Map<string, number>()
  const ipsOf = Reflect.get(t, 'ips') as DistinctNetSet
  const bucketList = Reflect.get(t, 'bucketList') as Array<{
    ips: DistinctNetSet
    replacements: { node: Node }[]
  }>
  let nonLan = 0
  for (let i = 0; i < N_BUCKETS; i++) {
    const entries = buckets[i]!.map((b) => b.node)
    assert.ok(entries.length <= BUCKET_SIZE)
    const reps = bucketList[i]!.replacements.map((e) => e.node)
    assert.ok(reps.length <= MAX_REPLACEMENTS)
    const bucketCount = new Map<string, number>()
    let bucketNonLan = 0
    for (const [kind, list] of [
      ['entry', entries],
      ['replacement', reps],
    ] as const) {
      for (const n of list as Node[]) {
        const key = idKey(n.id)
        assert.ok(!where.has(key), `duplicate ${key} (${where.get(key)} and ${kind})`)
        where.set(key, kind)
        assert.equal(t.bucketIndex(n.id), i)
        assert.notEqual(key, idKey(self))
        if (kind === 'entry')
          assert.ok(t.revalidationList(n.id) !== undefined, 'entry on a revalidation list')
        if (isLan(n.ip)) continue
        const sub = subnetKey(n.ip, 24)!
        bucketCount.set(sub, (bucketCount.get(sub) ?? 0) + 1)
        tableCount.set(sub, (tableCount.get(sub) ?? 0) + 1)
        bucketNonLan++
        nonLan++
      }
    }
    for (const c of bucketCount.values()) assert.ok(c <= 2, 'bucket /24 limit')
    assert.equal(bucketList[i]!.ips.len(), bucketNonLan, `bucket ${i} IP accounting`)
  }
  for (const c of tableCount.values()) assert.ok(c <= 10, 'table /24 limit')
  assert.equal(ipsOf.len(), nonLan, 'table IP accounting')
  assert.ok(t.activeRevalidations() <= t.len())
}

test('random operation sequences keep the table invariants and exact IP accounting', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 100, maxLength: 300, size: 'max' }), fc.nat(), (ops, seed) => {
      let now = 0
      const t = new Table({ selfId: self, now: () => now, rng: seededRng(seed) })
      for (const o of ops) {
        switch (o.op) {
          case 'found':
          case 'inbound': {
            const n = fakeNode(ids[o.id]!, ips[o.ip]!, o.port, BigInt(o.seq))
            if (o.op === 'found') t.addFoundNode(n)
            else t.addInboundNode(n)
            break
          }
          case 'delete':
            t.deleteNode(ids[o.id]!)
            break
          case 'track':
            t.trackRequest(fakeNode(ids[o.id]!, ips[0]!), o.fails, [
              fakeNode(ids[(o.id + 7) % 100]!, ips[o.fails]!),
            ])
            break
          case 'reval': {
            now += o.advance
            for (const n of t.runRevalidation().started) {
              const newRecord = o.seq > 2 ? fakeNode(n.id, ips[o.seq]!, 30303, BigInt(o.seq + 10)) : undefined
              t.handleRevalidationResponse(n.id, { didRespond: o.alive, remoteSeq: BigInt(o.seq), newRecord })
            }
            break
          }
          case 'init':
            t.markInitDone()
            break
        }
        checkInvariants(t)
      }
    }),
    { numRuns: 60, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true },
  )
})
