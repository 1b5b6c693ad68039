// machines/tx-fetcher.ts against geth's TxFetcher behaviour (eth/fetcher/tx_fetcher.go and its tests' scenarios):
// the 500 ms arrival wait, broadcast arrivals cancelling fetches, one request per peer with the 256-hash and 128 KiB
// limits, the 5 s timeout handing hashes to other announcers, partial deliveries, peers leaving, the per-peer
// announcement cap, blob transactions fetched at once, and metadata mismatches dropping the announcer. Time is a
// plain number: no timers.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
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
    assert.deepEqual(f.stats(), { waiting: 0, queued: 0, fetching: 2, requests: 1 })
  })

  it('a broadcast arriving during the wait cancels the fetch; hashes the pool has are not tracked', () => {
    const { f, fetches, pool } = setup(new Set(['h9']))
    f.notify('A', [tx(1), tx(2), tx(9)], 0)
    f.delivered('B', [tx(1)], false, 100)
    f.tick(500)
    assert.deepEqual(fetches, [['A', ['h2']]])
    pool.add('h3')
    f.notify('A', [tx(3)], 600)
    assert.deepEqual(f.stats().waiting, 0)
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
    assert.equal(f.stats().waiting, TX_FETCHER_MAX_ANNOUNCES)
    f.notify('A', [tx(9999)], 1)
    assert.equal(f.stats().waiting, TX_FETCHER_MAX_ANNOUNCES)
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
    assert.deepEqual(f.stats(), { waiting: 0, queued: 0, fetching: 0, requests: 0 })
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
