// actors/peer-dropper.ts over real servers on 127.0.0.1 (geth eth/dropper.go): a server with maxPeers 3 (one
// dialled slot, two inbound) filled by a dynamic dial and two inbound peers drops one of them with DiscUselessPeer
// (the peer is told "useless peer"); a server with room in both pools skips; its timer drops nothing while the node syncs and
// starts once it is synced; eth_dropper_* count it all. No handle is left.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { of } from 'rxjs'
import { startPeerDropper } from '../../actors/peer-dropper.ts'
import { assertNoLeaks, resourceCounts } from '../helpers/peers.ts'
import { makeNode, metric, stopAll, type TestNode, waitUntil } from './server-helpers.ts'

const baseline = resourceCounts()

/** A full server: `a` (maxPeers 3) dials `b` as a dynamic candidate; `c` and `d` dial `a` (inbound for it). */
async function fullServer(): Promise<{ a: TestNode; others: TestNode[] }> {
  const b = makeNode()
  await b.srv.start()
  const a = makeNode({ maxPeers: 3, dialCandidates: [of(b.srv.self())] })
  const c = makeNode()
  const d = makeNode()
  await Promise.all([a.srv.start(), c.srv.start(), d.srv.start()])
  await waitUntil(() => a.srv.peerCount() === 1, 10_000, 'a dialled b')
  c.srv.addPeer(a.enode())
  d.srv.addPeer(a.enode())
  await waitUntil(() => a.srv.peerCount() === 3, 10_000, 'a is full')
  return { a, others: [b, c, d] }
}

describe('peer dropper (geth eth/dropper.go) on a running server', () => {
  after(async () => {
    await assertNoLeaks(baseline)
  })

  it('drops one peer of a full server with DiscUselessPeer; skips when there is room', async () => {
    const { a, others } = await fullServer()
    const dropper = startPeerDropper(a.srv, {
      maxPeers: 3,
      metrics: a.registry,
      times: { doNotDropBeforeMs: 0 },
      random: () => 0,
    })
    try {
      assert.equal(dropper.tick(), true)
      await waitUntil(() => a.events.some((e) => e.type === 'drop'), 5000, 'a drops a peer')
      const drop = a.events.find((e) => e.type === 'drop')!
      assert.equal(drop.error, 'useless peer')
      // the dropped side hears the reason
      const victim = others.find((o) => o.id() === drop.peer)!
      await waitUntil(() => victim.events.some((e) => e.type === 'drop'), 5000, 'the peer sees the drop')
      assert.equal(victim.events.find((e) => e.type === 'drop')!.error, 'useless peer')
      const inbound = await metric(a.registry, 'eth_dropper_inbound')
      const outbound = await metric(a.registry, 'eth_dropper_outbound')
      assert.equal(inbound + outbound, 1)
      // b (maxPeers 50, one peer) has room in both pools: nothing is dropped
      const b = others[0]!
      const roomy = startPeerDropper(b.srv, {
        maxPeers: 50,
        metrics: b.registry,
        times: { doNotDropBeforeMs: 0 },
      })
      assert.equal(roomy.tick(), false)
      roomy.stop()
      assert.equal(await metric(b.registry, 'eth_dropper_skipped'), 1)
      assert.equal(b.srv.peerCount() + (drop.peer === b.id() ? 1 : 0), 1)
    } finally {
      dropper.stop()
      await stopAll([a, ...others])
    }
  })

  it('young peers are kept; its timer drops nothing while the node syncs, then drops', async () => {
    const { a, others } = await fullServer()
    let syncing = true
    // geth's 10 minutes: every peer here is younger
    const young = startPeerDropper(a.srv, { maxPeers: 3 })
    assert.equal(young.tick(), false)
    young.stop()
    const dropper = startPeerDropper(a.srv, {
      maxPeers: 3,
      syncing: () => syncing,
      times: { doNotDropBeforeMs: 0, intervalMinMs: 30, intervalMaxMs: 60 },
    })
    try {
      await new Promise((r) => setTimeout(r, 300))
      assert.equal(a.events.filter((e) => e.type === 'drop').length, 0, 'no drop while syncing')
      syncing = false
      await waitUntil(() => a.events.some((e) => e.type === 'drop'), 5000, 'a drop once synced')
    } finally {
      dropper.stop()
      await stopAll([a, ...others])
    }
  })
})
