// createServer over loopback: a static full mesh of 4, simultaneous dials, removePeer, the geth JSON shapes
// (admin_nodeInfo / admin_peers / PeerEvent), message events, metrics, and stop() leaving no handle open.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DiscReason } from '../../codecs/p2p.ts'
import {
  assertNoLeaks,
  makeNode,
  metric,
  peerIds,
  resources,
  sleep,
  startNodes,
  stopAll,
  waitUntil,
} from './server-helpers.ts'

describe('server: static peers over loopback', () => {
  it('a static full mesh of 4 forms, every pair once, and stop() leaves no handle', async () => {
    const baseline = resources()
    const nodes = await startNodes(4)
    try {
      for (const a of nodes) for (const b of nodes) if (a !== b) a.srv.addPeer(b.enode())
      await waitUntil(() => nodes.every((n) => n.srv.peerCount() === 3), 10_000, 'full mesh')
      for (const a of nodes) {
        const ids = peerIds(a).sort()
        assert.deepEqual(
          ids,
          nodes
            .filter((b) => b !== a)
            .map((b) => b.id())
            .sort(),
        )
      }
      // every connection is one TCP connection seen from both ends: inbound on exactly one side
      for (const a of nodes)
        for (const info of a.srv.peersInfo()) {
          const b = nodes.find((n) => n.id() === info.id)!
          const back = b.srv.peersInfo().find((i) => i.id === a.id())!
          assert.equal(info.network.inbound, !back.network.inbound)
          assert.equal(info.network.localAddress, back.network.remoteAddress)
        }
      // the mesh is stable: nobody dropped anybody after it formed
      await sleep(300)
      assert.ok(nodes.every((n) => n.srv.peerCount() === 3))
      for (const n of nodes) {
        assert.equal(await metric(n.registry, 'p2p_peers'), 3)
        const adds = n.events.filter((e) => e.type === 'add').length
        const drops = n.events.filter((e) => e.type === 'drop').length
        assert.equal(adds - drops, 3)
        // the built-in protocol runs on every link
        for (const p of n.srv.peers()) assert.ok((await n.proto.ping(p.id)) >= 0)
      }
    } finally {
      await stopAll(nodes)
    }
    for (const n of nodes) {
      const drops = n.events.filter((e) => e.type === 'drop')
      assert.ok(drops.length >= 3)
      assert.equal(n.srv.peerCount(), 0)
    }
    await assertNoLeaks(baseline)
  })

  it('simultaneous dials between two nodes end with exactly one connection', async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = await startNodes(2)
      try {
        a!.srv.addPeer(b!.enode())
        b!.srv.addPeer(a!.enode())
        await waitUntil(() => a!.srv.peerCount() === 1 && b!.srv.peerCount() === 1, 45_000, 'one connection')
        await sleep(200)
        assert.equal(a!.srv.peerCount(), 1)
        assert.equal(b!.srv.peerCount(), 1)
        const ia = a!.srv.peersInfo()[0]!
        const ib = b!.srv.peersInfo()[0]!
        assert.equal(ia.network.localAddress, ib.network.remoteAddress, 'both ends hold the same connection')
        assert.equal(ia.network.inbound, !ib.network.inbound)
      } finally {
        await stopAll([a!, b!])
      }
    }
  })

  it('removePeer disconnects with DiscRequested and the other side sees it', async () => {
    const [a, b] = await startNodes(2)
    try {
      a!.srv.addPeer(b!.enode())
      await waitUntil(() => b!.srv.peerCount() === 1, 5000, 'connected')
      await a!.srv.removePeer(b!.enode())
      assert.equal(a!.srv.peerCount(), 0)
      await waitUntil(() => b!.srv.peerCount() === 0, 2000, 'b dropped')
      const dropB = b!.events.find((e) => e.type === 'drop')!
      assert.equal(dropB.peer, a!.id())
      assert.equal(dropB.error, 'disconnect requested')
      const dropA = a!.events.find((e) => e.type === 'drop')!
      assert.equal(dropA.error, 'disconnect requested')
      // the endpoints are still told once the socket is closed
      for (const d of [dropA, dropB]) {
        assert.match(d.local ?? '', /^127\.0\.0\.1:\d+$/)
        assert.match(d.remote ?? '', /^127\.0\.0\.1:\d+$/)
      }
      // removed from the static set: not redialled (history would allow it after 35 s; nothing in the pool)
      await sleep(200)
      assert.equal(a!.srv.peerCount(), 0)
    } finally {
      await stopAll([a!, b!])
    }
  })

  it('nodeInfo / peersInfo / PeerEvent follow geth JSON shapes; msg events when enabled', async () => {
    const a = makeNode({ name: 'node-a/v1', enableMsgEvents: true })
    const b = makeNode({ name: 'node-b/v1' })
    await a.srv.start()
    await b.srv.start()
    try {
      const info = a.srv.nodeInfo()
      assert.deepEqual(Object.keys(info), [
        'id',
        'name',
        'enode',
        'enr',
        'ip',
        'ports',
        'listenAddr',
        'protocols',
      ])
      assert.match(info.id, /^[0-9a-f]{64}$/)
      assert.equal(info.name, 'node-a/v1')
      assert.equal(info.ip, '127.0.0.1')
      assert.match(info.enode, /^enode:\/\/[0-9a-f]{128}@127\.0\.0\.1:\d+\?discport=0$/)
      assert.match(info.enr, /^enr:/)
      assert.equal(info.ports.discovery, 0)
      assert.equal(info.listenAddr, `127.0.0.1:${info.ports.listener}`)
      assert.deepEqual(info.protocols, { 'devp2p-actors': { version: 1 } })

      a.srv.addPeer(b.enode())
      a.srv.addTrustedPeer(b.enode())
      await waitUntil(() => a.srv.peerCount() === 1 && b.srv.peerCount() === 1, 5000, 'connected')
      await waitUntil(() => a.srv.peersInfo()[0]?.network.trusted === true, 1000, 'trusted flag')
      const [pa] = a.srv.peersInfo()
      assert.deepEqual(Object.keys(pa!), ['enode', 'id', 'name', 'caps', 'network', 'protocols'])
      assert.equal(pa!.id, b.id())
      assert.equal(pa!.name, 'node-b/v1')
      assert.deepEqual(pa!.caps, ['devp2p-actors/1'])
      assert.equal(pa!.enode, b.enode().replace('?discport=0', '?discport=0'))
      assert.deepEqual(pa!.network, {
        localAddress: pa!.network.localAddress,
        remoteAddress: `127.0.0.1:${b.srv.nodeInfo().ports.listener}`,
        inbound: false,
        trusted: true,
        static: true,
      })
      assert.deepEqual(pa!.protocols, { 'devp2p-actors': { version: 1 } })
      const [pb] = b.srv.peersInfo()
      assert.equal(pb!.network.inbound, true)
      assert.equal(pb!.network.static, false)
      assert.equal(pb!.network.trusted, false)

      const add = a.events.find((e) => e.type === 'add')!
      assert.deepEqual(add, {
        type: 'add',
        peer: b.id(),
        local: pa!.network.localAddress,
        remote: pa!.network.remoteAddress,
      })

      const [peer] = a.srv.peers()
      assert.equal(Buffer.from(peer!.id).toString('hex'), b.id())
      assert.equal(peer!.inbound, false)
      await a.proto.ping(peer!.id)
      const sent = a.events.find((e) => e.type === 'msgsend')!
      const recv = a.events.find((e) => e.type === 'msgrecv')!
      assert.deepEqual(
        { ...sent, msg_size: 0 },
        {
          type: 'msgsend',
          peer: b.id(),
          protocol: 'devp2p-actors',
          msg_code: 0,
          msg_size: 0,
          local: add.local,
          remote: add.remote,
        },
      )
      assert.equal(recv.msg_code, 1)
      assert.equal(recv.msg_size, sent.msg_size)
      assert.equal(b.events.filter((e) => e.type === 'msgsend' || e.type === 'msgrecv').length, 0)

      assert.equal(await metric(a.registry, 'p2p_dials'), 1)
      assert.equal(await metric(a.registry, 'p2p_dials_success'), 1)
      assert.equal(await metric(a.registry, 'p2p_peers_outbound'), 1)
      assert.equal(await metric(b.registry, 'p2p_serves'), 1)
      assert.equal(await metric(b.registry, 'p2p_serves_success'), 1)
      assert.equal(await metric(b.registry, 'p2p_peers_inbound'), 1)
      assert.ok((await metric(a.registry, 'p2p_egress')) > 0)
      assert.ok((await metric(b.registry, 'p2p_ingress')) > 0)

      // snapshots: the supervisor is running and holds the peer
      const snaps: string[] = []
      const sub = a.srv.snapshot$.subscribe((s) => snaps.push(String(s.value)))
      sub.unsubscribe()
      assert.deepEqual(snaps, ['running'])
    } finally {
      await stopAll([a, b])
    }
    const dropA = a.events.find((e) => e.type === 'drop')!
    assert.equal(dropA.error, 'client quitting')
    assert.equal(DiscReason.Quitting, 8)
  })
})

describe('server: handle', () => {
  it('inspect sees the supervisor and its peers; PeerHandle.disconnect; start twice and stop before start', async () => {
    const seen = new Set<string>()
    const a = makeNode({
      inspect: (e) => {
        if (e.type === '@xstate.actor') seen.add((e.actorRef as unknown as { id: string }).id)
      },
    })
    const b = makeNode()
    const idle = makeNode()
    await idle.srv.stop()
    await assert.rejects(idle.srv.start(), /already stopped/)
    assert.equal(idle.srv.self().ip, '0.0.0.0', 'geth Self() before start: 0.0.0.0, port 0')
    const early = makeNode()
    const starting = early.srv.start()
    await early.srv.stop()
    await assert.rejects(starting, /stopped while starting/)
    await a.srv.start()
    b.srv.addPeer(a.enode()) // before start: kept and dialled once running (geth would need Start first)
    await b.srv.start()
    await assert.rejects(a.srv.start(), /already running/)
    try {
      await waitUntil(() => a.srv.peerCount() === 1, 5000, 'connected')
      assert.ok(seen.has('candidates'), [...seen].join(','))
      assert.ok(
        [...seen].some((id) => id.startsWith('peer:in:')),
        [...seen].join(','),
      )
      assert.deepEqual(a.srv.stats(), { peers: 1, connections: 1, inboundPending: 0, inboundWaiting: 0 })
      const [peer] = a.srv.peers()
      const states: string[] = []
      peer!.snapshot$.subscribe((s) => states.push(String(s.status)))
      peer!.disconnect(DiscReason.UselessPeer)
      await waitUntil(() => b.events.some((e) => e.type === 'drop'), 2000, 'drop seen by b')
      assert.equal(b.events.find((e) => e.type === 'drop')!.error, 'useless peer')
      assert.equal(states[0], 'active')
      assert.equal(states.at(-1), 'done')
    } finally {
      await stopAll([a, b])
    }
  })
})

describe('server: addresses', () => {
  it('nat extip:IP is the announced address; IPv6 loopback listens and connects', async () => {
    const ext = makeNode({ nat: 'extip:203.0.113.4' })
    const a = makeNode({ listenAddr: '[::1]:0' })
    const b = makeNode({ listenAddr: '[::1]:0' })
    await Promise.all([ext.srv.start(), a.srv.start(), b.srv.start()])
    try {
      assert.equal(ext.srv.nodeInfo().ip, '203.0.113.4')
      assert.match(ext.srv.nodeInfo().enode, /@203\.0\.113\.4:\d+\?discport=0$/)
      const info = a.srv.nodeInfo()
      assert.equal(info.ip, '::1')
      assert.equal(info.listenAddr, `[::1]:${info.ports.listener}`)
      b.srv.addPeer(a.enode())
      await waitUntil(() => a.srv.peerCount() === 1, 5000, 'connected over ::1')
      assert.match(a.srv.peersInfo()[0]!.network.remoteAddress, /^\[::1\]:\d+$/)
    } finally {
      await stopAll([ext, a, b])
    }
  })
})
