// Integration tests of the discv4 service (actors/discovery/service.ts) over real UDP sockets on 127.0.0.1:
// client requests (ping, findnode, requestENR, resolve, lookup, randomNodes), endpoint proofs in the node DB,
// inbound admission, timeouts and the clock-check hook, the local record (seq persisted and bumped), revalidation
// with ENR refresh, bootnodes given by DNS name (resolved at start, geth v1.17.5), and a clean stop.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { firstValueFrom, take, toArray } from 'rxjs'
import { NodeDb } from '../../actors/discovery/nodedb.ts'
import {
  createDiscv4,
  type Discv4,
  type Discv4Config,
  Discv4Error,
  resolveBootnode,
} from '../../actors/discovery/service.ts'
import { openUdpSocket, UdpError } from '../../actors/udp.ts'
import { equalBytes } from '../../codecs/bytes.ts'
import { encodePacket } from '../../codecs/discv4.ts'
import { formatEnode } from '../../codecs/enode.ts'
import { enrGet } from '../../codecs/enr.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'

const FAST: Partial<Discv4Config> = { bindAddr: '127.0.0.1', replyTimeout: 300, bondWait: 50 }

async function withNodes(
  n: number,
  cfg: (i: number, nodes: Discv4[]) => Partial<Discv4Config>,
  fn: (nodes: Discv4[]) => Promise<void>,
): Promise<void> {
  const nodes: Discv4[] = []
  try {
    for (let i = 0; i < n; i++) {
      const d = createDiscv4({ privateKey: generatePrivateKey(), ...FAST, ...cfg(i, nodes) })
      await d.start()
      nodes.push(d)
    }
    await fn(nodes)
  } finally {
    for (const d of nodes) await d.stop()
  }
  for (const d of nodes) assert.ok(d.stats().maxPacketOut <= 1280)
}

const boot = (nodes: Discv4[]) => ({ bootnodes: nodes.length > 0 ? [formatEnode(nodes[0]!.self())] : [] })

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('discv4 service', () => {
  test('ping → pong with the ENR seq; the pong is an endpoint proof stored per (id, IP)', () =>
    withNodes(
      2,
      () => ({}),
      async ([a, b]) => {
        const pong = await a!.ping(b!.self())
        assert.equal(pong.enrSeq, b!.localRecord().seq)
        assert.equal(pong.to.ip, '127.0.0.1')
        assert.equal(pong.to.udp, a!.address().port)
        assert.ok((await a!.db.lastPongReceived(b!.self().id, '127.0.0.1')) > 0)
        assert.equal(await a!.db.lastPongReceived(b!.self().id, '127.0.0.2'), 0)
        // b got a ping: it stored lastping for a and pinged back (a answers, so b holds a proof for a too)
        await until(() => b!.stats().packetsIn >= 2, 2000, 'the ping back')
        await until(() => a!.stats().packetsOut >= 2, 2000, 'pong to the ping back')
        assert.ok((await b!.db.lastPingReceived(a!.self().id, '127.0.0.1')) > 0)
      },
    ))

  test('requestENR returns the verified record; resolve follows it', () =>
    withNodes(
      2,
      () => ({ enrAttributes: { foo: new Uint8Array([0x83, 1, 2, 3]) } }),
      async ([a, b]) => {
        const n = await a!.requestENR(b!.self())
        assert.ok(equalBytes(n.id, b!.self().id))
        assert.equal(n.record?.seq, b!.localRecord().seq)
        assert.deepEqual(n.record?.pairs.get('foo'), new Uint8Array([0x83, 1, 2, 3]))
        const bare = { ...b!.self(), record: undefined }
        const r = await a!.resolve(bare)
        assert.equal(r.record?.seq, b!.localRecord().seq)
      },
    ))

  test('findnode bonds first, then returns the remote table nodes', () =>
    withNodes(
      4,
      // without the liveness preference the bootnode answers from its whole table, not only checked nodes
      (i, nodes) => (i === 0 ? { noFindnodeLivenessCheck: true } : boot(nodes)),
      async ([a, b, c, d]) => {
        await Promise.all([a, b, c, d].map((x) => x!.initDone))
        await until(() => a!.table.len() >= 3, 5000, 'bootnode table')
        const target = publicKeyOf(generatePrivateKey())
        const found = await d!.findnode(a!.self(), target)
        const ids = found.map((n) => Buffer.from(n.id).toString('hex'))
        for (const x of [b, c]) assert.ok(ids.includes(Buffer.from(x!.self().id).toString('hex')))
        assert.ok(found.length <= 16)
      },
    ))

  test('lookup finds every node of a small network; randomNodes emits nodes', () =>
    withNodes(
      6,
      // the bootnode answers from its whole table: with the liveness preference it lists only the nodes it has
      // revalidated once there are any, and beside two CPU hogs that was 2 of the 5 in three lookups in a row
      (i, nodes) => (i === 0 ? { noFindnodeLivenessCheck: true } : boot(nodes)),
      async (nodes) => {
        await Promise.all(nodes.map((x) => x.initDone))
        const last = nodes[5]!
        // A findnode with fewer than 16 nodes to return ends at the reply deadline (geth), so the 300 ms deadline is
        // part of every query here and a busy machine can miss it: up to three lookups, each from the table the ones
        // before it filled.
        const found: number[] = []
        while (found.length < 3 && Math.max(0, ...found) < 4) found.push((await last.lookup()).length)
        assert.ok(Math.max(...found) >= 4, `lookups found ${found.join(', ')}`)
        const target = publicKeyOf(generatePrivateKey())
        const sorted = await last.lookup(target)
        const t = keccak256(target)
        for (let i = 1; i < sorted.length; i++) {
          const d0 = Buffer.compare(xor(sorted[i - 1]!.id, t), xor(sorted[i]!.id, t))
          assert.ok(d0 <= 0, 'lookup result is ordered by distance')
        }
        const emitted = await firstValueFrom(last.randomNodes().pipe(take(3), toArray()))
        assert.equal(emitted.length, 3)
      },
    ))

  test('inbound nodes are added only after the first refresh; bootnode learns everyone', () =>
    withNodes(
      3,
      (_, nodes) => boot(nodes),
      async ([a, b, c]) => {
        await Promise.all([a, b, c].map((x) => x!.initDone))
        assert.ok(a!.table.isInitDone())
        await until(() => a!.table.len() === 2, 5000, 'bootnode to hold both nodes')
        assert.ok(a!.table.getNode(b!.self().id))
        assert.ok(a!.table.getNode(c!.self().id))
      },
    ))

  test('timeouts are counted, feed the clock-check hook, and reset on a matched reply', async () => {
    const dead = await openUdpSocket({ address: '127.0.0.1' }) // never answers
    const hook = { timeouts: 0, replies: 0, timeout: () => hook.timeouts++, reply: () => hook.replies++ }
    const seen: number[] = []
    try {
      await withNodes(
        2,
        () => ({ clockCheck: hook, onTimeout: (n) => seen.push(n), replyTimeout: 100 }),
        async ([a, b]) => {
          const ghost = publicKeyOf(generatePrivateKey())
          const deadNode = { id: keccak256(ghost), pubkey: ghost, ip: '127.0.0.1', udp: dead.address().port }
          const counts: number[] = []
          const sub = a!.timeouts$.subscribe((n) => counts.push(n))
          for (let i = 0; i < 3; i++)
            await assert.rejects(a!.ping(deadNode), (e) => e instanceof Discv4Error && e.code === 'TIMEOUT')
          assert.equal(a!.stats().consecutiveTimeouts, 3)
          assert.deepEqual(counts, [1, 2, 3])
          assert.ok(hook.timeouts >= 3)
          await a!.ping(b!.self())
          assert.equal(a!.stats().consecutiveTimeouts, 0)
          assert.ok(hook.replies >= 1)
          assert.ok(seen.length >= 3)
          sub.unsubscribe()
          // findnode to a node that never answers: bonding ping + findnode both time out → error
          await assert.rejects(
            a!.findnode(deadNode, ghost),
            (e) => e instanceof Discv4Error && e.code === 'TIMEOUT',
          )
        },
      )
    } finally {
      await dead.close()
    }
  })

  test('requests without a UDP endpoint fail fast; stop rejects pending requests with CLOSED', async () => {
    const dead = await openUdpSocket({ address: '127.0.0.1' })
    const d = createDiscv4({ privateKey: generatePrivateKey(), ...FAST, replyTimeout: 10_000 })
    await d.start()
    const ghost = publicKeyOf(generatePrivateKey())
    await assert.rejects(
      d.ping({ id: keccak256(ghost), pubkey: ghost }),
      (e) => e instanceof Discv4Error && e.code === 'NO_UDP_ENDPOINT',
    )
    const p = d.ping({ id: keccak256(ghost), pubkey: ghost, ip: '127.0.0.1', udp: dead.address().port })
    const l = d.lookup()
    await new Promise((r) => setTimeout(r, 20))
    await d.stop()
    await assert.rejects(p, (e) => e instanceof Discv4Error && e.code === 'CLOSED')
    assert.ok(Array.isArray(await l))
    await d.stop() // idempotent
    await dead.close()
  })

  test('local record: ip/udp/tcp, seq persisted in the DB and bumped on change', async () => {
    const db = await NodeDb.open()
    const key = generatePrivateKey()
    try {
      const d1 = createDiscv4({ privateKey: key, ...FAST, db, tcpPort: 30399 })
      await d1.start()
      const r1 = d1.localRecord()
      assert.equal(enrGet(r1, 'ip'), '127.0.0.1')
      assert.equal(enrGet(r1, 'udp'), d1.address().port)
      assert.equal(enrGet(r1, 'tcp'), 30399)
      d1.setExternalAddress('203.0.113.7')
      const r2 = d1.localRecord()
      assert.equal(r2.seq, r1.seq + 1n)
      assert.equal(enrGet(r2, 'ip'), '203.0.113.7')
      d1.setExternalAddress('203.0.113.7') // no change, no bump
      assert.equal(d1.localRecord().seq, r2.seq)
      d1.setEnrAttributes({ eth: new Uint8Array([0xc7, 0xc6, 0x84, 1, 2, 3, 4, 0x80]) })
      assert.equal(d1.localRecord().seq, r2.seq + 1n)
      await d1.stop()
      assert.equal(await db.localSeq(d1.self().id), r2.seq + 1n)
      const d2 = createDiscv4({ privateKey: key, ...FAST, db })
      await d2.start()
      assert.ok(d2.localRecord().seq > r2.seq + 1n, 'seq never goes backwards across restarts')
      await d2.stop()
    } finally {
      await db.close()
    }
  })

  test('revalidation pings table nodes and refreshes their ENR when the pong carries a higher seq', () =>
    withNodes(
      2,
      (_, nodes) => ({ ...boot(nodes), pingInterval: 100 }),
      async ([a, b]) => {
        await Promise.all([a!.initDone, b!.initDone])
        await until(() => a!.table.getNode(b!.self().id) !== undefined, 5000, 'b in a’s table')
        b!.setEnrAttributes({ hello: new Uint8Array([0x82, 0x68, 0x69]) })
        const want = b!.localRecord().seq
        await until(() => a!.table.getNode(b!.self().id)?.record?.seq === want, 5000, 'the refreshed ENR')
        assert.deepEqual(
          a!.table.getNode(b!.self().id)?.record?.pairs.get('hello'),
          new Uint8Array([0x82, 0x68, 0x69]),
        )
        await until(
          () =>
            a!.table
              .buckets()
              .flat()
              .some((e) => e.live),
          5000,
          'a liveness-checked node',
        )
      },
    ))

  test('inbound nodes wait for the first refresh (geth: addInboundNode refused before initDone)', async () => {
    const dead = await openUdpSocket({ address: '127.0.0.1' }) // an unreachable bootnode keeps refresh busy
    const ghost = publicKeyOf(generatePrivateKey())
    const deadBoot = formatEnode({ pubkey: ghost, ip: '127.0.0.1', udp: dead.address().port, tcp: 0 })
    try {
      await withNodes(
        2,
        (i) => (i === 0 ? { bootnodes: [deadBoot], replyTimeout: 800, bondWait: 200 } : {}),
        async ([a, b]) => {
          assert.ok(!a!.table.isInitDone())
          await b!.ping(a!.self())
          // a pinged b back and got its pong (the proof), but the table is not open for inbound nodes yet
          await until(() => b!.stats().packetsIn >= 2, 2000, 'a’s ping back')
          await new Promise((r) => setTimeout(r, 50))
          assert.equal(a!.table.getNode(b!.self().id), undefined)
          await a!.initDone
          await b!.ping(a!.self())
          await until(() => a!.table.getNode(b!.self().id) !== undefined, 2000, 'b admitted after init')
        },
      )
    } finally {
      await dead.close()
    }
  })

  test('hostile datagrams are dropped without harm; the service keeps answering', () =>
    withNodes(
      2,
      () => ({}),
      async ([a, b]) => {
        const raw = await openUdpSocket({ address: '127.0.0.1' })
        try {
          const port = a!.address().port
          const rnd = (n: number) => new Uint8Array(randomBytes(n))
          const flood: Uint8Array[] = []
          for (let i = 0; i < 200; i++) flood.push(rnd(1 + ((i * 7) % 1500)))
          // truncations of a valid packet
          const valid = encodePacket(generatePrivateKey(), {
            type: 'enrRequest',
            expiration: BigInt(Math.floor(Date.now() / 1000) + 20),
          }).bytes
          for (let cut = 1; cut < valid.length; cut++) flood.push(valid.subarray(0, cut))
          // in batches, so that the kernel's receive buffer never overflows
          for (let i = 0; i < flood.length; i++) {
            await raw.send(flood[i]!, port, '127.0.0.1')
            if (i % 25 === 24) await until(() => a!.stats().packetsIn >= i + 1, 3000, 'the flood to arrive')
          }
          await until(() => a!.stats().packetsIn >= flood.length, 3000, 'the flood to arrive')
          const pong = await b!.ping(a!.self())
          assert.equal(pong.enrSeq, a!.localRecord().seq)
          assert.equal(a!.stats().dropped.decode, flood.length)
        } finally {
          await raw.close()
        }
      },
    ))

  test('start failure (port taken) rejects and leaves nothing open; stop during start is clean', async () => {
    const taken = await openUdpSocket({ address: '127.0.0.1' })
    try {
      const d = createDiscv4({ privateKey: generatePrivateKey(), ...FAST, port: taken.address().port })
      await assert.rejects(d.start(), (e) => e instanceof UdpError && e.code === 'BIND_FAILED')
      await d.stop()
    } finally {
      await taken.close()
    }
    const d2 = createDiscv4({ privateKey: generatePrivateKey(), ...FAST })
    const starting = d2.start()
    await d2.stop()
    await starting
    // the socket it bound during start was closed by stop: the port can be bound again
    const again = await openUdpSocket({ address: '127.0.0.1', port: d2.address().port })
    await again.close()
  })

  test('randomNodes: lookups run only while subscribed (unsubscribing cancels the running lookup)', () =>
    withNodes(
      5,
      (_, nodes) => ({ ...boot(nodes), pingInterval: 600_000 }),
      async (nodes) => {
        await Promise.all(nodes.map((x) => x.initDone))
        const d = nodes[4]!
        let findnodes = 0
        const sub = d.packets$.subscribe((p) => {
          if (p.dir === 'out' && p.type === 'findnode') findnodes++
        })
        const first = await firstValueFrom(d.randomNodes())
        assert.ok(first.id instanceof Uint8Array)
        await new Promise((r) => setTimeout(r, 100))
        const after = findnodes
        await new Promise((r) => setTimeout(r, 1500))
        assert.equal(findnodes, after, 'no FINDNODE after unsubscribing')
        sub.unsubscribe()
      },
    ))
})

describe('discv4 bootnodes by DNS name (geth v1.17.5 resolveBootnodeHostname)', () => {
  test('a bootnode at localhost is resolved at start and bonded with', () =>
    withNodes(
      2,
      (i, nodes) =>
        i === 0
          ? {}
          : { bootnodes: [formatEnode({ ...nodes[0]!.self(), ip: undefined, hostname: 'localhost' })] },
      async ([a, b]) => {
        assert.match(formatEnode({ ...a!.self(), ip: undefined, hostname: 'localhost' }), /@localhost:\d+/)
        await until(() => b!.table.getNode(a!.self().id) !== undefined, 5000, 'b bonds with its bootnode')
        assert.equal(b!.table.getNode(a!.self().id)!.ip, '127.0.0.1')
      },
    ))

  test("the name's first IPv4 address, else its first IPv6 one; no address or a failed lookup fails the start", async () => {
    const n = {
      id: new Uint8Array(32),
      pubkey: new Uint8Array(64),
      hostname: 'boot.test',
      udp: 30303,
      tcp: 30303,
    }
    const with_ = (addrs: { address: string; family: number }[]) => async () => addrs
    assert.equal(
      (
        await resolveBootnode(
          n,
          with_([
            { address: '::1', family: 6 },
            { address: '127.0.0.2', family: 4 },
          ]),
        )
      ).ip,
      '127.0.0.2',
    )
    assert.equal((await resolveBootnode(n, with_([{ address: '::1', family: 6 }]))).ip, '::1')
    await assert.rejects(
      resolveBootnode(n, with_([])),
      /BAD_BOOTNODE: bad bootstrap node boot\.test: no IP addresses/,
    )
    const failing = async () => {
      throw new Error('getaddrinfo ENOTFOUND boot.test')
    }
    await assert.rejects(
      resolveBootnode(n, failing),
      (e: unknown) =>
        e instanceof Discv4Error &&
        e.code === 'BAD_BOOTNODE' &&
        /DNS lookup failed for "boot\.test": getaddrinfo ENOTFOUND/.test(e.message),
    )
    // a node with an IP is left as it is
    const withIp = { ...n, ip: '127.0.0.3' }
    assert.equal(await resolveBootnode(withIp, failing), withIp)
    // the service fails its start and leaves nothing open
    const d = createDiscv4({
      privateKey: generatePrivateKey(),
      ...FAST,
      bootnodes: [n],
      lookupHost: failing,
    })
    await assert.rejects(d.start(), /BAD_BOOTNODE/)
    await d.stop()
  })
})

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}
