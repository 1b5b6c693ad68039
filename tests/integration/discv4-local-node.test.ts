// The local node record (actors/discovery/local-node.ts, geth p2p/enode/localnode.go) with a real node DB, and
// the UDP socket wrapper (actors/udp.ts) it is announced for: endpoint precedence (static > predicted >
// fallback), seq bumps only on change and persisted, attributes, IPv6; bind / send / receive / close.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { firstValueFrom, toArray } from 'rxjs'
import { IpTracker } from '../../actors/discovery/ip-tracker.ts'
import { FALLBACK_IP, LocalNode } from '../../actors/discovery/local-node.ts'
import { NodeDb } from '../../actors/discovery/nodedb.ts'
import { openUdpSocket, UdpError, unmapAddress } from '../../actors/udp.ts'
import { equalBytes } from '../../codecs/bytes.ts'
import { decodeEnr, enrGet, enrNodeId } from '../../codecs/enr.ts'
import { nodeIdOfPrivateKey } from '../../crypto/keys.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'

async function withDb(fn: (db: NodeDb) => Promise<void>): Promise<void> {
  const db = await NodeDb.open()
  try {
    await fn(db)
  } finally {
    await db.close()
  }
}

describe('LocalNode', () => {
  test('fallback endpoint, signed record, seq = stored seq + 1 and persisted', () =>
    withDb(async (db) => {
      const key = generatePrivateKey()
      const id = nodeIdOfPrivateKey(key)
      await db.storeLocalSeq(id, 41n)
      const ln = await LocalNode.create({ privateKey: key, db, udp: 30301, bindAddr: '0.0.0.0' })
      const r = ln.record()
      assert.equal(r.seq, 42n)
      assert.equal(enrGet(r, 'ip'), FALLBACK_IP)
      assert.equal(enrGet(r, 'udp'), 30301)
      assert.equal(enrGet(r, 'tcp'), 30301)
      assert.ok(equalBytes(enrNodeId(decodeEnr(r.raw)), id), 'record verifies and names our id')
      assert.ok(equalBytes(ln.node().id, id))
      assert.equal(await db.localSeq(id), 42n)
    }))

  test('a specific bind address is the fallback IP; static IP wins; unchanged entries do not bump', () =>
    withDb(async (db) => {
      const ln = await LocalNode.create({
        privateKey: generatePrivateKey(),
        db,
        udp: 1234,
        tcp: 30303,
        bindAddr: '10.1.2.3',
      })
      assert.equal(enrGet(ln.record(), 'ip'), '10.1.2.3')
      const seq = ln.seq
      const changes: bigint[] = []
      ln.onChange((r) => changes.push(r.seq))
      ln.setStaticIp('198.51.100.4', 40404)
      assert.equal(enrGet(ln.record(), 'ip'), '198.51.100.4')
      assert.equal(enrGet(ln.record(), 'udp'), 40404)
      assert.equal(enrGet(ln.record(), 'tcp'), 30303)
      ln.setStaticIp('198.51.100.4', 40404)
      ln.setAttributes({ foo: new Uint8Array([0x01]) })
      ln.setAttributes({ foo: new Uint8Array([0x01]) })
      assert.deepEqual(changes, [seq + 1n, seq + 2n])
      ln.setAttributes({ foo: undefined })
      assert.equal(ln.record().pairs.has('foo'), false)
      assert.throws(() => ln.setStaticIp('not-an-ip'), RangeError)
      await ln.flush()
      assert.equal(await db.localSeq(ln.id), ln.seq)
    }))

  test('the endpoint follows the prediction from ≥ 10 statements, unless a static IP is set', () =>
    withDb(async (db) => {
      let t = 1_000
      const tracker = new IpTracker({ now: () => t })
      const ln = await LocalNode.create({
        privateKey: generatePrivateKey(),
        db,
        udp: 5000,
        ipTracker: tracker,
      })
      for (let i = 1; i <= 9; i++) ln.udpEndpointStatement(`192.0.2.${i}`, { ip: '203.0.113.9', port: 6000 })
      assert.equal(enrGet(ln.record(), 'ip'), FALLBACK_IP)
      t += 10
      ln.udpEndpointStatement('192.0.2.10', { ip: '203.0.113.9', port: 6000 })
      assert.equal(enrGet(ln.record(), 'ip'), '203.0.113.9')
      assert.equal(enrGet(ln.record(), 'udp'), 6000)
      ln.setStaticIp('198.51.100.1')
      assert.equal(enrGet(ln.record(), 'ip'), '198.51.100.1')
      assert.equal(enrGet(ln.record(), 'udp'), 5000, 'a static IP keeps the bound port')
    }))

  test('IPv6 endpoints go to ip6 / udp6 / tcp6', () =>
    withDb(async (db) => {
      const ln = await LocalNode.create({
        privateKey: generatePrivateKey(),
        db,
        udp: 7000,
        bindAddr: '2001:db8::5',
      })
      assert.equal(enrGet(ln.record(), 'ip6'), '2001:db8::5')
      assert.equal(enrGet(ln.record(), 'udp6'), 7000)
      assert.equal(enrGet(ln.record(), 'ip'), undefined)
    }))
})

describe('UDP socket wrapper', () => {
  test('bind, send, receive with the source address, close completes the stream', async () => {
    const a = await openUdpSocket({ address: '127.0.0.1' })
    const b = await openUdpSocket({ address: '127.0.0.1' })
    const all = firstValueFrom(a.datagrams$.pipe(toArray()))
    await b.send(new Uint8Array([1, 2, 3]), a.address().port, '127.0.0.1')
    await new Promise((r) => setTimeout(r, 50))
    await a.close()
    await a.close()
    const got = await all
    assert.equal(got.length, 1)
    assert.deepEqual([...got[0]!.data], [1, 2, 3])
    assert.deepEqual(got[0]!.from, { address: '127.0.0.1', port: b.address().port })
    await assert.rejects(
      a.send(new Uint8Array([1]), 1, '127.0.0.1'),
      (e) => e instanceof UdpError && e.code === 'CLOSED',
    )
    await b.close()
  })

  test('IPv4-mapped IPv6 sources are unwrapped', () => {
    assert.equal(unmapAddress('::ffff:10.0.0.1'), '10.0.0.1')
    assert.equal(unmapAddress('::1'), '::1')
    assert.equal(unmapAddress('127.0.0.1'), '127.0.0.1')
  })
})
