// createServer with discovery v4 on loopback: UDP on the TCP port, two nodes learn of each other from one
// bootnode and connect through the dial scheduler's dynamic candidates; a static node added without an
// address is resolved through discovery; geth's discover_* metrics; stop() closes the UDP sockets too.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { N_BUCKETS } from '../../actors/discovery/table.ts'
import { formatEnode } from '../../codecs/enode.ts'
import {
  assertNoLeaks,
  makeNode,
  metric,
  resources,
  startNodes,
  stopAll,
  waitUntil,
} from './server-helpers.ts'

const disc = { noDiscovery: false, discovery: { bindAddr: '127.0.0.1' } }

describe('server with discovery', () => {
  it('two nodes find each other through a bootnode and connect', async () => {
    const baseline = resources()
    const boot = makeNode({ ...disc, noDial: true })
    await boot.srv.start()
    const info = boot.srv.nodeInfo()
    assert.equal(info.ports.discovery, info.ports.listener, 'UDP on the TCP port')
    assert.match(info.enode, /@127\.0\.0\.1:\d+$/)
    const nodes = await startNodes(2, { ...disc, bootstrapNodes: [info.enode] })
    const [x, y] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    try {
      await waitUntil(
        () =>
          x.srv.peersInfo().some((p) => p.id === y.id()) && y.srv.peersInfo().some((p) => p.id === x.id()),
        20_000,
        'x and y connected',
      )
      const link = x.srv.peersInfo().find((p) => p.id === y.id())!
      assert.equal(link.network.static, false, 'a dynamic dial')
      assert.ok(x.srv.discovery, 'discovery exposed while running')
      // geth's discover/… metrics: UDP bytes both ways, and the table's entries per bucket
      assert.ok((await metric(x.registry, 'discover_ingress')) > 0)
      assert.ok((await metric(x.registry, 'discover_egress')) > 0)
      let inBuckets = 0
      for (let i = 0; i < N_BUCKETS; i++) inBuckets += await metric(x.registry, `discover_bucket_${i}_count`)
      assert.equal(inBuckets, x.srv.discovery.table.len())
      assert.ok(inBuckets >= 1)
    } finally {
      await stopAll([boot, x, y])
    }
    assert.equal(x.srv.discovery, undefined)
    await assertNoLeaks(baseline, 3000)
  })

  it('a static node added without an address is resolved through discovery and dialled', async () => {
    const boot = makeNode({ ...disc, noDial: true })
    await boot.srv.start()
    const target = makeNode({ ...disc, bootstrapNodes: [boot.srv.nodeInfo().enode], noDial: true })
    await target.srv.start()
    // the bootnode must know the target before s looks it up: a failed resolve is retried only after 60 s (geth)
    await waitUntil(
      () => boot.srv.discovery?.table.getNode(target.srv.self().id) !== undefined,
      20_000,
      'the target in the bootnode table',
    )
    const bare = formatEnode({ pubkey: target.srv.self().pubkey })
    const s = makeNode({ ...disc, bootstrapNodes: [boot.srv.nodeInfo().enode] })
    await s.srv.start()
    try {
      // and s's discovery must be bootstrapped: a resolve racing its first refresh can fail under load (UDP on a
      // busy loopback), and then waits those 60 s
      await waitUntil(
        () => s.srv.discovery?.table.getNode(target.srv.self().id) !== undefined,
        20_000,
        'the target in s table',
      )
      s.srv.addPeer(bare)
      await waitUntil(() => s.srv.peersInfo().some((p) => p.id === target.id()), 20_000, 'static resolved')
      const link = s.srv.peersInfo().find((p) => p.id === target.id())!
      assert.equal(link.network.static, true)
      assert.equal(link.network.remoteAddress, `127.0.0.1:${target.srv.self().tcp}`)
    } finally {
      await stopAll([boot, target, s])
    }
  })
})
