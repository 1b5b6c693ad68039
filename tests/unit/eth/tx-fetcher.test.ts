// machines/tx-fetcher.ts against geth's TxFetcher behaviour (eth/fetcher/tx_fetcher.go and its tests' scenarios):
// the 500 ms arrival wait, broadcast arrivals cancelling fetches, one request per peer with the 256-hash and 128 KiB
// limits, the 5 s timeout handing hashes to other announcers, partial deliveries, peers leaving, the per-peer
// announcement cap, blob transactions fetched at once, and metadata mismatches dropping the announcer; then random
// schedules of announcements, broadcasts, partial replies, time and departures (fast-check, fixed seed) keep geth's
// tracker invariants, lose no hash once peers answer, and leave nothing behind when every peer left. Time is a
// plain number: no timers.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  type AnnouncedTx,
  TX_FETCHER_MAX_ANNOUNCES,
  TX_FETCHER_MAX_RETRIEVALS,
  TxFetcher,
} from '../../../machines/tx-fetcher.ts'

const tx = (n: number, size = 100, type = 2): AnnouncedTx => ({ hash: `h${n}`, type, size })
const txs = (from: number, count: number, size = 100) =>
  Array.from({ length: count }, (_, i) => tx(from + i, size))

function setup(pool = new Set<string>()) {
  const fetches: [string, string[]][] = []
  const drops: [string, string][] = []
  const f = new TxFetcher({
    has: (h) => pool.has(h),
    fetch: (peer, hashes) => fetches.push([peer, hashes]),
    dropPeer: (peer, why) => drops.push([peer, why]),
  })
  return { f, fetches, drops, pool }
}

describe('transaction fetcher (geth TxFetcher)', () => {
  it('waits 500 ms for a broadcast, then asks the announcer', () => {
    const { f, fetches } = setup()
    f.notify('A', [tx(1), tx(2)], 1000)
    assert.deepEqual(fetches, [])
    assert.equal(f.nextDeadline(), 1500)
    f.tick(1300)
    assert.deepEqual(fetches, [], 'not yet (only what is within the 100 ms slack goes early)')
    f.tick(1401)
    assert.deepEqual(fetches, [['A', ['h1', 'h2']]])
    assert.equal(f.nextDeadline(), 1401 + 5000, 'now the request timeout')
    assert.deepEqual(
      [
        f.gauges().waitingHashes,
        f.gauges().queueingHashes,
        f.gauges().fetchingHashes,
        f.gauges().fetchingPeers,
      ],
      [0, 0, 2, 1],
    )
  })

  it('a broadcast arriving during the wait cancels the fetch; hashes the pool has are not tracked', () => {
    const { f, fetches, pool } = setup(new Set(['h9']))
    f.notify('A', [tx(1), tx(2), tx(9)], 0)
    f.delivered('B', [tx(1)], false, 100)
    f.tick(500)
    assert.deepEqual(fetches, [['A', ['h2']]])
    pool.add('h3')
    f.notify('A', [tx(3)], 600)
    assert.equal(f.gauges().waitingHashes, 0)
    assert.equal(f.totals.announcesKnown, 2)
  })

  it('one request per peer: 256 hashes at most, and it stops once 128 KiB of announced size is reached', () => {
    const { f, fetches } = setup()
    f.notify('A', txs(0, 300), 0)
    f.notify('B', txs(1000, 3, 70 * 1024), 0)
    f.tick(500)
    assert.equal(fetches.length, 2)
    assert.equal(fetches[0]![1].length, TX_FETCHER_MAX_RETRIEVALS)
    assert.deepEqual(fetches[1], ['B', ['h1000', 'h1001']])
    // the rest waits for the reply
    f.delivered(
      'A',
      fetches[0]![1].map((h) => ({ hash: h, type: 2, size: 100 })),
      true,
      600,
    )
    assert.deepEqual(fetches[2], ['A', txs(256, 44).map((t) => t.hash)])
  })

  it('a peer may have 4096 hashes waiting or queued; more are ignored', () => {
    const { f } = setup()
    f.notify('A', txs(0, 5000), 0)
    assert.equal(f.gauges().waitingHashes, TX_FETCHER_MAX_ANNOUNCES)
    f.notify('A', [tx(9999)], 1)
    assert.equal(f.gauges().waitingHashes, TX_FETCHER_MAX_ANNOUNCES)
    // geth's announces/dos meter counts what was cut
    assert.equal(f.totals.announcesDos, 5000 - TX_FETCHER_MAX_ANNOUNCES + 1)
    assert.equal(f.totals.announcesIn, 5001)
  })

  it('no reply in 5 s: the hashes go to another announcer, and the slow peer is not asked again', () => {
    const { f, fetches } = setup()
    f.notify('A', [tx(1)], 0)
    f.notify('B', [tx(1)], 10)
    f.tick(500)
    assert.deepEqual(fetches, [['A', ['h1']]])
    f.tick(5399)
    assert.equal(fetches.length, 1)
    f.tick(5401)
    assert.deepEqual(fetches[1], ['B', ['h1']])
    // A's late reply still counts (geth keeps the dangling request), and B's delivery then finds nothing to do
    f.notify('A', [tx(2)], 5500)
    f.tick(6000)
    assert.equal(fetches.length, 2, 'A has a dangling request: nothing more for it')
    f.delivered('A', [tx(1)], true, 6100)
    assert.deepEqual(fetches[2], ['A', ['h2']])
  })

  it('partial reply: hashes before the last delivered one are dropped from that peer, later ones asked again', () => {
    const { f, fetches } = setup()
    f.notify('A', [tx(1), tx(2), tx(3)], 0)
    f.notify('B', [tx(1)], 0)
    f.tick(500)
    assert.deepEqual(fetches, [['A', ['h1', 'h2', 'h3']]])
    f.delivered('A', [tx(2)], true, 600)
    // h1 (before the cutoff) goes to its other announcer B; h3 (after it) is asked of A again
    assert.deepEqual(fetches.slice(1), [
      ['A', ['h3']],
      ['B', ['h1']],
    ])
  })

  it('an announcer that leaves hands its request to the others at once', () => {
    const { f, fetches } = setup()
    f.notify('A', [tx(1)], 0)
    f.notify('B', [tx(1)], 0)
    f.tick(500)
    f.dropPeer('A', 700)
    assert.deepEqual(fetches, [
      ['A', ['h1']],
      ['B', ['h1']],
    ])
    f.dropPeer('B', 800)
    assert.deepEqual(Object.values(f.gauges()), [0, 0, 0, 0, 0, 0, 0])
    assert.equal(f.nextDeadline(), undefined)
  })

  it('blob transactions (type 3) are only announced: fetched without the wait', () => {
    const { f, fetches } = setup()
    f.notify('A', [tx(1, 131072, 3)], 0)
    assert.deepEqual(fetches, [['A', ['h1']]])
  })

  it('a delivery unlike the announcement drops the announcer (type, or size beyond 8 bytes)', () => {
    const { f, drops } = setup()
    f.notify('A', [tx(1, 100, 2), tx(2, 100), tx(3, 100)], 0)
    f.notify('B', [tx(1, 100, 2)], 0)
    f.delivered('C', [tx(1, 100, 1), tx(2, 108), tx(3, 109)], false, 100)
    assert.deepEqual(
      drops.map(([p, why]) => `${p} ${why.split(':')[0]}`),
      [
        'A announced transaction type mismatch',
        'B announced transaction type mismatch',
        'A announced transaction size mismatch',
      ],
    )
  })
})

/** The fetcher's private stages, read for the invariants below (TypeScript privacy is compile-time only). */
interface Stages {
  waitlist: Map<string, Set<string>>
  waittime: Map<string, number>
  waitslots: Map<string, Map<string, unknown>>
  announces: Map<string, Map<string, unknown>>
  announced: Map<string, Set<string>>
  fetching: Map<string, string>
  alternates: Map<string, Set<string>>
  requests: Map<string, { hashes: string[] | null; stolen?: Set<string> }>
}

/** geth's tracker invariants: every hash in one stage, and the per-peer and per-hash indexes agreeing. */
function checkInvariants(f: TxFetcher): void {
  const s = f as unknown as Stages
  for (const h of s.waitlist.keys()) {
    assert.ok(!s.announced.has(h) && !s.fetching.has(h), `${h} waiting and queued or fetching`)
    assert.ok(s.waittime.has(h), `${h} waiting without a time`)
    for (const p of s.waitlist.get(h)!)
      assert.ok(s.waitslots.get(p)?.has(h), `${h} waitlist/waitslots of ${p}`)
  }
  assert.equal(s.waittime.size, s.waitlist.size)
  for (const [p, slots] of s.waitslots) {
    assert.ok(slots.size > 0, `empty waitslots kept for ${p}`)
    for (const h of slots.keys()) assert.ok(s.waitlist.get(h)?.has(p), `${h} waitslots/waitlist of ${p}`)
  }
  for (const h of s.announced.keys()) {
    assert.ok(!s.fetching.has(h), `${h} queued and fetching`)
    assert.ok(s.announced.get(h)!.size > 0)
    for (const p of s.announced.get(h)!)
      assert.ok(s.announces.get(p)?.has(h), `${h} announced/announces of ${p}`)
  }
  for (const [h, origin] of s.fetching) {
    const req = s.requests.get(origin)
    assert.ok(req, `${h} fetching from ${origin} without a request`)
    assert.ok(req.hashes === null || req.hashes.includes(h), `${h} not in ${origin}'s request`)
    assert.ok(s.alternates.has(h), `${h} fetching without alternates`)
  }
  for (const h of s.alternates.keys()) assert.ok(s.fetching.has(h), `${h} alternates without fetching`)
  for (const queue of s.announces.values()) assert.ok(queue.size > 0, 'empty announce queue kept')
}

describe('transaction fetcher: random schedules (fast-check)', () => {
  const PEERS = ['A', 'B', 'C']
  const HASHES = Array.from({ length: 8 }, (_, i) => `h${i}`)
  type Op =
    | { op: 'notify'; peer: number; hashes: number[]; blob: boolean }
    | { op: 'broadcast'; peer: number; hashes: number[] }
    | { op: 'reply'; peer: number; keep: boolean[] }
    | { op: 'tick'; ms: number }
    | { op: 'drop'; peer: number }
  const peer = fc.integer({ min: 0, max: PEERS.length - 1 })
  const hashes = fc.uniqueArray(fc.integer({ min: 0, max: HASHES.length - 1 }), {
    minLength: 1,
    maxLength: 5,
  })
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('notify' as const), peer, hashes, blob: fc.boolean() }),
    fc.record({ op: fc.constant('broadcast' as const), peer, hashes }),
    fc.record({
      op: fc.constant('reply' as const),
      peer,
      keep: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    }),
    fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 6000 }) }),
    fc.record({ op: fc.constant('drop' as const), peer }),
  )

  it('keeps its indexes consistent, fetches every announced hash from honest peers, and empties when all leave', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const pool = new Set<string>()
        const outstanding = new Map<string, string[]>()
        const f = new TxFetcher({
          has: (h) => pool.has(h),
          fetch: (p, hs) => {
            assert.ok(!outstanding.has(p), `second request to ${p} while one is in flight`)
            assert.ok(hs.length > 0)
            outstanding.set(p, hs)
          },
          dropPeer: () => {},
        })
        const tx = (h: string, type = 2) => ({ hash: h, type, size: 100 })
        let now = 0
        const kind = new Map<string, number>()
        for (const o of ops) {
          if (o.op === 'notify') {
            const list = o.hashes.map((i) => tx(HASHES[i]!, o.blob ? 3 : 2))
            for (const t of list) kind.set(t.hash, t.type)
            f.notify(PEERS[o.peer]!, list, now)
          } else if (o.op === 'broadcast') {
            const list = o.hashes.map((i) => tx(HASHES[i]!))
            for (const t of list) pool.add(t.hash)
            f.delivered(PEERS[o.peer]!, list, false, now)
          } else if (o.op === 'reply') {
            const p = PEERS[o.peer]!
            const asked = outstanding.get(p)
            if (!asked) continue
            outstanding.delete(p)
            const got = asked.filter((_, i) => o.keep[i % 8])
            for (const h of got) pool.add(h)
            f.delivered(
              p,
              got.map((h) => tx(h)),
              true,
              now,
            )
          } else if (o.op === 'tick') {
            now += o.ms
            f.tick(now)
          } else {
            const p = PEERS[o.peer]!
            outstanding.delete(p)
            f.dropPeer(p, now)
          }
          checkInvariants(f)
        }
        // honest peers from here on, answering every request (also the ones the fetcher gave up on: geth asks a
        // slow peer nothing more until it answers): every hash some peer still announces reaches the pool
        for (let round = 0; round < 40 && (outstanding.size > 0 || f.nextDeadline() !== undefined); round++) {
          for (const [p, hs] of [...outstanding]) {
            outstanding.delete(p)
            for (const h of hs) pool.add(h)
            f.delivered(
              p,
              hs.map((h) => tx(h, kind.get(h) ?? 2)),
              true,
              now,
            )
            checkInvariants(f)
          }
          now += 1000
          f.tick(now)
          checkInvariants(f)
        }
        const g = f.gauges()
        assert.equal(g.waitingHashes + g.queueingHashes + g.fetchingHashes, 0, `stuck: ${JSON.stringify(g)}`)
        for (const p of PEERS) f.dropPeer(p, now)
        assert.deepEqual(Object.values(f.gauges()), [0, 0, 0, 0, 0, 0, 0])
        assert.equal(f.nextDeadline(), undefined)
        const s = f as unknown as Stages
        assert.equal(s.announces.size + s.waitslots.size + s.alternates.size, 0)
      }),
      { numRuns: 300, seed: 20261125 },
    )
  })
})
