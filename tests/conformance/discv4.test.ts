// Discovery v4 conformance: the public devp2p discv4 test list (geth cmd/devp2p/internal/v4test: Ping ×8,
// ENRRequest, Findnode ×4, Amplification ×2) run against our service from a hand-built tester
// (tests/conformance/tester.ts) on 127.0.0.1 and 127.0.0.2, plus a few checks of our own (ENRRequest without
// proof, datagrams over 1280 bytes accepted, Neighbors splitting, nothing sent above 1280 bytes).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createDiscv4, type Discv4 } from '../../actors/discovery/service.ts'
import { equalBytes } from '../../codecs/bytes.ts'
import { isExpired, type NeighborsPacket, type PingPacket } from '../../codecs/discv4.ts'
import { decodeEnr, enrNodeId } from '../../codecs/enr.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'
import { type Received, TestEnv, type TesterSocket, WRONG_PACKET } from './tester.ts'

let node: Discv4
let remote: { ip: string; port: number }
const envs: TestEnv[] = []

before(async () => {
  node = createDiscv4({ privateKey: generatePrivateKey(), bindAddr: '127.0.0.1' })
  await node.start()
  remote = { ip: '127.0.0.1', port: node.address().port }
})

after(async () => {
  await node.stop()
  // strict in what we send: nothing the tester ever received was above 1280 bytes
  for (const e of envs)
    for (const s of [...e.l1.sizes, ...e.l2.sizes]) assert.ok(s <= 1280, `sent ${s} bytes`)
  assert.ok(node.stats().maxPacketOut <= 1280)
})

async function env(): Promise<TestEnv> {
  const e = await TestEnv.create(remote)
  envs.push(e)
  return e
}

function ping(te: TestEnv, from = te.l1.endpoint(), to = te.remoteEndpoint()): PingPacket {
  return { type: 'ping', version: 4, from, to, expiration: te.futureExpiration() }
}

const WRONG_ENDPOINT = { ip: '192.0.2.0', udp: 0, tcp: 0 }

function checkPong(te: TestEnv, reply: Received | null, pingHash: Uint8Array): void {
  assert.ok(reply, 'expected PONG reply, got nothing')
  assert.equal(reply.packet.type, 'pong', `expected PONG reply, got ${reply.packet.type}`)
  if (reply.packet.type !== 'pong') return
  assert.ok(equalBytes(reply.packet.replyTok, pingHash), 'PONG reply token mismatch')
  const want = te.l1.endpoint()
  assert.equal(reply.packet.to.ip, want.ip, "PONG 'to' IP must be the UDP source")
  assert.equal(reply.packet.to.udp, want.udp, "PONG 'to' port must be the UDP source port")
  assert.ok(!isExpired(reply.packet.expiration, Date.now() / 1000), 'PONG is expired')
}

/** Exactly one PING and one PONG in the next two reads (the suite's checkPingPong). */
async function checkPingPong(te: TestEnv, pingHash: Uint8Array): Promise<void> {
  let pings = 0
  let pongs = 0
  for (let i = 0; i < 2; i++) {
    const r = await te.l1.read()
    assert.ok(r, 'read timeout')
    if (r.packet.type === 'pong') {
      checkPong(te, r, pingHash)
      pongs++
    } else if (r.packet.type === 'ping') pings++
    else assert.fail(`expected PING or PONG, got ${r.packet.type}`)
  }
  assert.deepEqual({ pings, pongs }, { pings: 1, pongs: 1 })
}

async function expectNothing(c: TesterSocket, allow: string[] = []): Promise<void> {
  for (;;) {
    const r = await c.read()
    if (!r) return
    assert.ok(allow.includes(r.packet.type), `expected no reply, got ${r.packet.type}`)
  }
}

/** The suite's bond: PING, answer their PING with a correct PONG, check their PONG. */
async function bond(te: TestEnv): Promise<void> {
  const pingHash = await te.send(te.l1, ping(te))
  let gotPing = false
  let gotPong = false
  while (!gotPing || !gotPong) {
    const r = await te.l1.read()
    assert.ok(r, 'read timeout while bonding')
    if (r.packet.type === 'ping') {
      await te.send(te.l1, {
        type: 'pong',
        to: te.remoteEndpoint(),
        replyTok: r.hash,
        expiration: te.futureExpiration(),
      })
      gotPing = true
    } else if (r.packet.type === 'pong') {
      checkPong(te, r, pingHash)
      gotPong = true
    }
  }
}

async function withEnv(fn: (te: TestEnv) => Promise<void>): Promise<void> {
  const te = await env()
  try {
    await fn(te)
  } finally {
    await te.close()
  }
}

describe('discv4 conformance (public devp2p test list)', () => {
  test('Ping/Basic', () =>
    withEnv(async (te) => {
      await checkPingPong(te, await te.send(te.l1, ping(te)))
    }))

  test('Ping/WrongTo', () =>
    withEnv(async (te) => {
      await checkPingPong(te, await te.send(te.l1, ping(te, te.l1.endpoint(), WRONG_ENDPOINT)))
    }))

  test('Ping/WrongFrom', () =>
    withEnv(async (te) => {
      await checkPingPong(te, await te.send(te.l1, ping(te, WRONG_ENDPOINT)))
    }))

  test('Ping/ExtraData', () =>
    withEnv(async (te) => {
      // pingWithJunk: JunkData1 uint 42 (read as the EIP-868 seq position) and JunkData2 bytes
      const p: PingPacket = { ...ping(te), enrSeq: 42n, extra: [new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1])] }
      await checkPingPong(te, await te.send(te.l1, p))
    }))

  test('Ping/ExtraDataWrongFrom', () =>
    withEnv(async (te) => {
      const p: PingPacket = {
        ...ping(te, WRONG_ENDPOINT),
        enrSeq: 42n,
        extra: [new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1])],
      }
      await checkPingPong(te, await te.send(te.l1, p))
    }))

  test('Ping/PastExpiration', () =>
    withEnv(async (te) => {
      await te.send(te.l1, { ...ping(te), expiration: te.pastExpiration() })
      assert.equal(await te.l1.read(), null, 'expected no reply')
    }))

  test('Ping/WrongPacketType', () =>
    withEnv(async (te) => {
      await te.sendWithType(te.l1, ping(te), WRONG_PACKET)
      assert.equal(await te.l1.read(), null, 'expected no reply')
    }))

  test('Ping/BondThenPingWithWrongFrom', () =>
    withEnv(async (te) => {
      await bond(te)
      const pingHash = await te.send(te.l1, ping(te, WRONG_ENDPOINT))
      for (;;) {
        const r = await te.l1.read()
        assert.ok(r, 'read timeout')
        if (r.packet.type === 'findnode') continue
        checkPong(te, r, pingHash)
        break
      }
    }))

  test('ENRRequest', () =>
    withEnv(async (te) => {
      await bond(te)
      const hash = await te.send(te.l1, { type: 'enrRequest', expiration: te.futureExpiration() })
      const r = await te.l1.read()
      assert.ok(r, 'read timeout')
      assert.equal(r.packet.type, 'enrResponse')
      if (r.packet.type !== 'enrResponse') return
      assert.ok(equalBytes(r.packet.replyTok, hash), 'wrong hash in response packet')
      const rec = decodeEnr(r.packet.record) // verifies the signature
      assert.ok(equalBytes(enrNodeId(rec), node.self().id), 'wrong node ID in response')
    }))

  test('Findnode/WithoutEndpointProof', () =>
    withEnv(async (te) => {
      await te.send(te.l1, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.futureExpiration(),
      })
      await expectNothing(te.l1, ['ping'])
    }))

  test('Findnode/BasicFindnode', () =>
    withEnv(async (te) => {
      await bond(te)
      await te.send(te.l1, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.futureExpiration(),
      })
      const r = await te.l1.read()
      assert.ok(r, 'read find nodes: timeout')
      assert.equal(r.packet.type, 'neighbors')
    }))

  test('Findnode/UnsolicitedNeighbors', () =>
    withEnv(async (te) => {
      await bond(te)
      const fakeKey = publicKeyOf(generatePrivateKey())
      await te.send(te.l1, {
        type: 'neighbors',
        nodes: [{ ip: '1.2.3.4', udp: 30303, tcp: 30303, pubkey: fakeKey }],
        expiration: te.futureExpiration(),
      })
      await te.send(te.l1, { type: 'findnode', target: fakeKey, expiration: te.futureExpiration() })
      const r = await te.l1.read()
      assert.ok(r, 'read find nodes: timeout')
      assert.equal(r.packet.type, 'neighbors')
      const nodes = (r.packet as NeighborsPacket).nodes
      assert.ok(!nodes.some((n) => equalBytes(n.pubkey, fakeKey)), 'unsolicited neighbour was inserted')
      assert.equal(node.table.getNode(keccak256(fakeKey)), undefined)
    }))

  test('Findnode/PastExpiration', () =>
    withEnv(async (te) => {
      await bond(te)
      await te.send(te.l1, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.pastExpiration(),
      })
      for (;;) {
        const r = await te.l1.read()
        if (!r) break
        assert.notEqual(r.packet.type, 'neighbors', 'NEIGHBORS for an expired FINDNODE')
      }
    }))

  test('Amplification/InvalidPongHash', () =>
    withEnv(async (te) => {
      await te.send(te.l1, ping(te))
      let gotPing = false
      let gotPong = false
      while (!gotPing || !gotPong) {
        const r = await te.l1.read()
        assert.ok(r, 'read timeout')
        if (r.packet.type === 'ping') {
          await te.send(te.l1, {
            type: 'pong',
            to: te.remoteEndpoint(),
            replyTok: new Uint8Array(32),
            expiration: te.futureExpiration(),
          })
          gotPing = true
        } else if (r.packet.type === 'pong') gotPong = true
      }
      await te.send(te.l1, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.futureExpiration(),
      })
      const r = await te.l1.read()
      assert.ok(r === null || r.packet.type !== 'neighbors', 'got NEIGHBORS without a valid endpoint proof')
    }))

  test('Amplification/WrongIP', () =>
    withEnv(async (te) => {
      await bond(te)
      await te.send(te.l2, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.futureExpiration(),
      })
      assert.equal(await te.l2.read(), null, 'got NEIGHBORS for FINDNODE from the wrong IP')
    }))
})

describe('discv4 conformance: our own additions', () => {
  test('ENRRequest without endpoint proof gets no reply', () =>
    withEnv(async (te) => {
      await te.send(te.l1, { type: 'enrRequest', expiration: te.futureExpiration() })
      await expectNothing(te.l1)
    }))

  test('a PING datagram above 1280 bytes is accepted (liberal in what we accept)', () =>
    withEnv(async (te) => {
      const p: PingPacket = { ...ping(te), enrSeq: 1n, extra: [new Uint8Array(1300).fill(7)] }
      const hash = await te.sendWithType(te.l1, p, 0x01)
      const r = await te.l1.read()
      checkPong(te, r?.packet.type === 'pong' ? r : await te.l1.read(), hash)
    }))

  test('FINDNODE answers the 16 closest in Neighbors packets of ≤ 12 nodes, each ≤ 1280 bytes', () =>
    withEnv(async (te) => {
      for (let i = 0; i < 24; i++) {
        const pubkey = publicKeyOf(generatePrivateKey())
        node.table.addFoundNode({
          id: keccak256(pubkey),
          pubkey,
          ip: `127.0.${i + 1}.1`,
          udp: 30303,
          tcp: 30303,
        })
      }
      await bond(te)
      const target = publicKeyOf(generatePrivateKey())
      await te.send(te.l1, { type: 'findnode', target, expiration: te.futureExpiration() })
      const packets: NeighborsPacket[] = []
      for (;;) {
        const r = await te.l1.read()
        if (!r) break
        if (r.packet.type === 'neighbors') {
          assert.ok(r.raw.length <= 1280, `Neighbors of ${r.raw.length} bytes`)
          assert.ok(r.packet.nodes.length <= 12)
          packets.push(r.packet)
        }
      }
      assert.equal(packets.length, 2)
      const got = packets.flatMap((p) => p.nodes.map((n) => keccak256(n.pubkey)))
      assert.equal(got.length, 16)
      const want = node.table.findnodeByID(keccak256(target), 16).map((n) => n.id)
      assert.deepEqual(
        got.map((g) => Buffer.from(g).toString('hex')).sort(),
        want.map((w) => Buffer.from(w).toString('hex')).sort(),
      )
    }))
})
