// `devp2p-actors rlpx ping` (the real binary) on 127.0.0.1: it prints the Hello of one of our servers and of an
// @ethereumjs/devp2p node (text and JSON); a node whose first message is a Disconnect, one that never answers, a
// closed port and a node without a TCP port each fail with one line on stderr. No handle is left.
import assert from 'node:assert/strict'
import { createServer as createTcpServer, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { RlpxConnection } from '../../actors/rlpx-connection.ts'
import { formatEnode } from '../../codecs/enode.ts'
import { DiscReason, encodeDisconnect, P2P_MSG } from '../../codecs/p2p.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'
import { assertFails, run } from '../helpers/cli.ts'
import { assertNoLeaks, resourceCounts } from '../helpers/peers.ts'
import { makeNode, type TestNode } from '../integration/server-helpers.ts'
import { type EthjsNode, startEthjsNode } from '../interop/ethjs-harness.ts'

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
