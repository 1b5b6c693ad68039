// createServer admission over loopback: maxPeers with the inbound / dialled split (geth MaxInboundConns,
// MaxDialedConns), trusted peers past a full server, our own id refused with DiscSelf, netrestrict on both the
// dial and the accept side, handshake error counters by cause.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import { startPeer } from '../../actors/peer.ts'
import { DiscReason } from '../../codecs/p2p.ts'
import {
  assertNoLeaks,
  makeNode,
  metric,
  resources,
  sleep,
  startNodes,
  stopAll,
  type TestNode,
  waitUntil,
} from './server-helpers.ts'

const inboundOf = (n: TestNode) => n.srv.peersInfo().filter((p) => p.network.inbound).length
const dialledOf = (n: TestNode) => n.srv.peersInfo().filter((p) => !p.network.inbound).length

describe('server: admission', () => {
  it('maxPeers 3: at most 2 inbound (maxPeers − maxPeers/3), one dialled, further ones refused', async () => {
    const baseline = resources()
    const s = makeNode({ maxPeers: 3 })
    await s.srv.start()
    const others = await startNodes(6)
    const [p, q, r, t, x, y] = others as [TestNode, TestNode, TestNode, TestNode, TestNode, TestNode]
    try {
      for (const n of [p, q, r, t]) n.srv.addPeer(s.enode())
      await waitUntil(() => inboundOf(s) === 2, 5000, 'two inbound')
      // the other two are refused after the encryption handshake with TooManyPeers
      await waitUntil(
        () => [p, q, r, t].filter((n) => n.srv.peerCount() === 0).length === 2,
        5000,
        'two refused',
      )
      // a refused dialler learns it at its post-handshake (p2p_dials_error_saturated) or, when S refused at
      // add-peer, after the dialler had added S (the initiator finishes first): a drop with geth's error text
      let refused = 0
      for (const n of [p, q, r, t]) {
        const early = await metric(n.registry, 'p2p_dials_error_saturated')
        const late = n.events.filter((e) => e.type === 'drop' && e.error === 'too many peers').length
        refused += early + late
      }
      assert.equal(refused, 2)
      assert.ok((await metric(s.registry, 'p2p_serves_error_saturated')) >= 2)
      assert.equal(inboundOf(s), 2)

      // one dialled slot (maxDialed = 3/3 = 1): the first static node gets it, the second is never dialled
      s.srv.addPeer(x.enode())
      await waitUntil(() => dialledOf(s) === 1, 5000, 'one dialled')
      s.srv.addPeer(y.enode())
      await sleep(300)
      assert.equal(dialledOf(s), 1)
      assert.equal(s.srv.peerCount(), 3)
      assert.equal(y.srv.peerCount(), 0)
      assert.equal(await metric(s.registry, 'p2p_dials'), 1)
      assert.equal(await metric(s.registry, 'p2p_peers'), 3)
      assert.equal(await metric(s.registry, 'p2p_peers_inbound'), 2)
      assert.equal(await metric(s.registry, 'p2p_peers_outbound'), 1)
    } finally {
      await stopAll([s, ...others])
    }
    await assertNoLeaks(baseline)
  })

  it('a trusted peer passes a full server; an untrusted one does not', async () => {
    const s = makeNode({ maxPeers: 1, noDial: true })
    await s.srv.start()
    const [p, t, u] = (await startNodes(3)) as [TestNode, TestNode, TestNode]
    try {
      p.srv.addPeer(s.enode())
      await waitUntil(() => s.srv.peerCount() === 1, 5000, 'full')
      s.srv.addTrustedPeer(t.enode())
      t.srv.addPeer(s.enode())
      await waitUntil(() => s.srv.peerCount() === 2, 5000, 'trusted admitted')
      assert.equal(s.srv.peersInfo().find((i) => i.id === t.id())?.network.trusted, true)
      u.srv.addPeer(s.enode())
      await sleep(400)
      assert.equal(u.srv.peerCount(), 0)
      assert.equal(s.srv.peerCount(), 2)
      assert.equal(await metric(u.registry, 'p2p_dials_error_saturated'), 1)
      // removing trust does not drop the connected peer (geth only clears the flag)
      s.srv.removeTrustedPeer(t.enode())
      await waitUntil(
        () => s.srv.peersInfo().find((i) => i.id === t.id())?.network.trusted === false,
        1000,
        'flag',
      )
      assert.equal(s.srv.peerCount(), 2)
    } finally {
      await stopAll([s, p, t, u])
    }
  })

  it('our own id is refused with DiscSelf; adding ourselves as a static node never dials', async () => {
    const s = makeNode()
    await s.srv.start()
    try {
      s.srv.addPeer(s.enode())
      await sleep(100)
      assert.equal(await metric(s.registry, 'p2p_dials'), 0)
      const self = s.srv.self()
      const session = startPeer({
        socket: connect({ host: '127.0.0.1', port: self.tcp! }),
        privateKey: s.key,
        dialDest: { id: self.id, pubkey: self.pubkey },
        protocols: [],
      })
      const out = await session.dropped
      await session.closed
      assert.equal(out.reason, DiscReason.Self)
      assert.equal(out.requestedByRemote, true)
      await waitUntil(() => true, 0)
      assert.equal(await metric(s.registry, 'p2p_serves_error_self'), 1)
      assert.equal(s.srv.peerCount(), 0)
    } finally {
      await s.srv.stop()
    }
  })

  it('netrestrict: dials outside the list are never made, inbound connections from outside are closed', async () => {
    const s = makeNode({ netRestrict: '10.0.0.0/8' })
    const open = makeNode({ netRestrict: ['127.0.0.0/8'] })
    const p = makeNode()
    await Promise.all([s.srv.start(), open.srv.start(), p.srv.start()])
    try {
      s.srv.addPeer(p.enode())
      p.srv.addPeer(s.enode())
      await sleep(400)
      assert.equal(s.srv.peerCount(), 0)
      assert.equal(p.srv.peerCount(), 0)
      assert.equal(await metric(s.registry, 'p2p_dials'), 0, 'checkDial refuses before connecting')
      assert.equal(await metric(s.registry, 'p2p_serves'), 0, 'the listener closes before serving')
      assert.ok((await metric(p.registry, 'p2p_dials_error_rlpx_enc')) >= 1, 'the dialler sees the close')
      // a list containing loopback admits both ways
      open.srv.addPeer(p.enode())
      await waitUntil(() => open.srv.peerCount() === 1, 5000, 'inside the list')
    } finally {
      await stopAll([s, open, p])
    }
  })
})
