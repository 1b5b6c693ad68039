// `devp2p-actors rlpx ping` and `rlpx status` (the real binary) on 127.0.0.1. ping prints the Hello of one of our
// servers and of an @ethereumjs/devp2p node (text and JSON); a node whose first message is a Disconnect, one that
// never answers, a closed port and a node without a TCP port each fail with one line on stderr. status prints the
// eth Status of our eth server (eth/72) and of ethjs's own ETH (eth/68); another network, or a node without eth,
// fails with the check's text or the drop's reason. No handle is left.
import assert from 'node:assert/strict'
import { createServer as createTcpServer, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { createEthProtocols } from '../../actors/eth.ts'
import { RlpxConnection } from '../../actors/rlpx-connection.ts'
import { bytesToHex } from '../../codecs/bytes.ts'
import { formatEnode } from '../../codecs/enode.ts'
import { DiscReason, encodeDisconnect, P2P_MSG } from '../../codecs/p2p.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'
import { MAINNET_FORKS, mainnetAtPrague, PRAGUE_HEAD } from '../fixtures/eth-chain.ts'
import { assertFails, run } from '../helpers/cli.ts'
import { assertNoLeaks, resourceCounts } from '../helpers/peers.ts'
import { makeEthNode, makeNode, type TestNode } from '../integration/server-helpers.ts'
import { ETHJS_HEAD, type EthjsNode, ethjsStatus, startEthjsNode } from '../interop/ethjs-harness.ts'

const baseline = resourceCounts()

/** A TCP server on 127.0.0.1 that hands each accepted socket to `onSocket`; its enode URL. */
async function tcpServer(onSocket: (s: Socket, key: Uint8Array) => void) {
  const key = generatePrivateKey()
  const sockets = new Set<Socket>()
  const srv = createTcpServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    onSocket(s, key)
  })
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res))
  const port = (srv.address() as { port: number }).port
  const url = formatEnode({ pubkey: publicKeyOf(key), ip: '127.0.0.1', tcp: port, udp: 0 })
  return {
    url,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((res) => srv.close(() => res()))
    },
  }
}

describe('devp2p-actors rlpx ping', () => {
  let ours: TestNode
  let ethjs: EthjsNode
  before(async () => {
    ours = makeNode({ name: 'devp2p-actors/ping-target' })
    await ours.srv.start()
    ethjs = await startEthjsNode({ clientId: 'ethjs-ping-target/v10' })
  })
  after(async () => {
    await ours.srv.stop()
    await ethjs.close()
    await assertNoLeaks(baseline)
  })

  it("prints our server's Hello: name, version 5, caps, listen port, id", async () => {
    const r = await run('rlpx', 'ping', ours.enode())
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Name: +devp2p-actors\/ping-target$/m)
    assert.match(r.stdout, /^Version: +5$/m)
    assert.match(r.stdout, /^Caps: +devp2p-actors\/1$/m)
    assert.match(r.stdout, /^ListenPort: +0$/m)
    assert.match(r.stdout, new RegExp(`^ID: +${Buffer.from(ours.srv.self().pubkey).toString('hex')}$`, 'm'))
    // the server saw a connection that never sent its Hello, and runs on without a peer
    assert.equal(ours.srv.peerCount(), 0)
  })

  it("prints an @ethereumjs/devp2p node's Hello as JSON", async () => {
    const url = formatEnode({ pubkey: ethjs.pubkey, ip: '127.0.0.1', tcp: ethjs.port, udp: 0 })
    const r = await run('rlpx', 'ping', url, '--json')
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout) as { name: string; version: number; caps: string[]; id: string }
    assert.equal(j.name, 'ethjs-ping-target/v10')
    assert.equal(j.version, 5)
    assert.deepEqual(j.caps, ['eth/68'])
    assert.equal(j.id, Buffer.from(ethjs.pubkey).toString('hex'))
  })

  it("a Disconnect instead of the Hello fails with geth's text", async () => {
    const srv = await tcpServer((s, key) => {
      const conn = new RlpxConnection(s, { privateKey: key })
      conn.encHandshake().then(
        () => conn.send(P2P_MSG.disconnect, encodeDisconnect(DiscReason.TooManyPeers)).catch(() => {}),
        () => {},
      )
    })
    try {
      assertFails(await run('rlpx', 'ping', srv.url), 'received disconnect message: too many peers')
    } finally {
      await srv.close()
    }
  })

  it('a node that never answers, a closed port and a node without a TCP port fail with one line', async () => {
    const silent = await tcpServer(() => {})
    try {
      const t0 = performance.now()
      assertFails(
        await run('rlpx', 'ping', silent.url, '--timeout', '1s'),
        /RLPx handshake with 127\.0\.0\.1:\d+ failed: no answer within 1000 ms$/,
      )
      assert.ok(performance.now() - t0 < 20_000)
    } finally {
      await silent.close()
    }
    const closed = await tcpServer(() => {})
    const url = closed.url
    await closed.close()
    assertFails(await run('rlpx', 'ping', url), /ECONNREFUSED/)
    const noTcp = ours.enode().replace(/@127\.0\.0\.1:\d+/, '@127.0.0.1:0')
    assertFails(await run('rlpx', 'ping', noTcp), 'node has no TCP endpoint')
    assertFails(await run('rlpx', 'ping', 'enode://nothex@127.0.0.1:1'), 'invalid public key')
  })
})

describe('devp2p-actors rlpx status', () => {
  after(async () => {
    await assertNoLeaks(baseline)
  })

  it("prints our eth server's Status at eth/72; another network is refused with geth's text", async () => {
    const { node } = makeEthNode(createEthProtocols({ chain: mainnetAtPrague() }))
    await node.srv.start()
    try {
      const r = await run('rlpx', 'status', node.enode(), '--eth', 'mainnet', '--json')
      assert.equal(r.code, 0, r.stderr)
      const j = JSON.parse(r.stdout) as Record<string, unknown>
      assert.match(String(j.name), /^devp2p-actors\//)
      assert.equal(j.version, 72)
      assert.equal(j.networkId, '1')
      assert.equal(j.genesis, bytesToHex(MAINNET_FORKS.genesisHash))
      assert.deepEqual(j.forkId, { hash: 'c376cf8b', next: '1764798551' })
      assert.equal(j.latest, String(PRAGUE_HEAD.number))
      assert.equal(j.latestHash, bytesToHex(PRAGUE_HEAD.hash))
      const text = await run('rlpx', 'status', node.enode())
      assert.match(text.stdout, /^Version: +eth\/72$/m)
      assert.match(text.stdout, /^Fork ID: +c376cf8b next 1764798551$/m)
      assertFails(
        await run('rlpx', 'status', node.enode(), '--eth', 'sepolia'),
        /network ID mismatch: 1 \(!= 11155111\)$/,
      )
      // the server ran on: every probe came and went
      assert.equal(node.srv.peerCount(), 0)
    } finally {
      await node.srv.stop()
    }
  })

  it('a node without eth: the peer is dropped as useless', async () => {
    const plain = makeNode()
    await plain.srv.start()
    try {
      assertFails(await run('rlpx', 'status', plain.enode()), /peer dropped( by the remote)?: useless peer$/)
    } finally {
      await plain.srv.stop()
    }
  })

  it("prints @ethereumjs/devp2p's own ETH Status at eth/68 (td and head)", async () => {
    const ethjs = await startEthjsNode({ realEth: true })
    try {
      const url = formatEnode({ pubkey: ethjs.pubkey, ip: '127.0.0.1', tcp: ethjs.port, udp: 0 })
      const r = run('rlpx', 'status', url, '--json')
      // ethjs sends its Status when told to, once the peer is there
      await ethjsStatus(await ethjs.nextPeer(20_000))
      const done = await r
      assert.equal(done.code, 0, done.stderr)
      const j = JSON.parse(done.stdout) as Record<string, unknown>
      assert.equal(j.version, 68)
      assert.equal(j.networkId, '1')
      assert.equal(j.head, bytesToHex(ETHJS_HEAD))
      assert.equal(j.td, '1')
    } finally {
      await ethjs.close()
    }
  })
})
