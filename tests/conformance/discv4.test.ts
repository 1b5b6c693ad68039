// Discovery v4 conformance: the public devp2p discv4 test list (geth cmd/devp2p/internal/v4test: Ping ×8,
// ENRRequest, Findnode ×4, Amplification ×2) run against our service from a hand-built tester
// (tests/conformance/tester.ts) on 127.0.0.1 and 127.0.0.2, plus a few checks of our own (ENRRequest without
// proof, datagrams over 1280 bytes accepted, Neighbors splitting, nothing sent above 1280 bytes).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createDiscv4, type Discv4 } from '../../actors/discovery/service.ts'
import type { NeighborsPacket, PingPacket } from '../../codecs/discv4.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'
import { bond, checkPong, DISCV4_TESTS, expectNothing, ping, TestEnv } from './tester.ts'

let node: Discv4
let remote: { ip: string; port: number }
const envs: TestEnv[] = []

before(async () => {
  // Revalidation (a PING every 3 s to table nodes) is not under test here; on a loaded machine it evicted the
  // unreachable nodes the FINDNODE case plants while that case ran, so it is paused for the whole file.
  node = createDiscv4({ privateKey: generatePrivateKey(), bindAddr: '127.0.0.1', pingInterval: 3_600_000 })
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

async function withEnv(fn: (te: TestEnv) => Promise<void>): Promise<void> {
  const te = await env()
  try {
    await fn(te)
  } finally {
    await te.close()
  }
}

describe('discv4 conformance (public devp2p test list)', () => {
  for (const c of DISCV4_TESTS) test(c.name, () => withEnv((te) => c.run(te, node.self().id)))
})

describe('discv4 conformance: our own additions', () => {
  test('unsolicited NEIGHBORS never reach the table', () =>
    withEnv(async (te) => {
      await bond(te)
      const fakeKey = publicKeyOf(generatePrivateKey())
      await te.send(te.l1, {
        type: 'neighbors',
        nodes: [{ ip: '127.0.0.9', udp: 30303, tcp: 30303, pubkey: fakeKey }],
        expiration: te.futureExpiration(),
      })
      await te.send(te.l1, { type: 'findnode', target: fakeKey, expiration: te.futureExpiration() })
      assert.equal((await te.l1.read())?.packet.type, 'neighbors')
      assert.equal(node.table.getNode(keccak256(fakeKey)), undefined)
      assert.ok(node.stats().dropped.unsolicited >= 1)
    }))

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
