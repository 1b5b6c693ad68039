// A small discv4 network in one process on 127.0.0.1 (24 nodes bootstrapped from one): every table fills,
// lookups for random targets find the true 16 closest (computed from the full node list), and no node ever
// sends a datagram above 1280 bytes. The 200-node simulation lives in tests/sim (H10); this is the quick one.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { createDiscv4, type Discv4 } from '../../actors/discovery/service.ts'
import { formatEnode } from '../../codecs/enode.ts'
import { closest } from '../../codecs/kad.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'

const N = 24
const LOOKUPS = 10

test(`${N}-node network: tables fill, lookups find the true closest 16`, async () => {
  const nodes: Discv4[] = []
  const cfg = { bindAddr: '127.0.0.1', replyTimeout: 1_500, bondWait: 100, pingInterval: 300 }
  try {
    const boot = createDiscv4({ privateKey: generatePrivateKey(), ...cfg })
    await boot.start()
    nodes.push(boot)
    const t0 = Date.now()
    for (let i = 1; i < N; i++) {
      const d = createDiscv4({
        privateKey: generatePrivateKey(),
        ...cfg,
        bootnodes: [formatEnode(boot.self())],
      })
      await d.start()
      nodes.push(d)
    }
    const reached = new Map<number, number>()
    while (reached.size < N && Date.now() - t0 < 60_000) {
      nodes.forEach((d, i) => {
        if (!reached.has(i) && d.table.len() >= 10) reached.set(i, Date.now() - t0)
      })
      await new Promise((r) => setTimeout(r, 25))
    }
    assert.equal(reached.size, N, `nodes with ≥ 10 table entries: ${reached.size}/${N}`)
    const times = [...reached.values()].sort((a, b) => a - b)
    const median = times[Math.floor(times.length / 2)]!
    assert.ok(median < 5_000, `median time to ≥ 10 nodes: ${median} ms`)

    await Promise.all(nodes.map((d) => d.initDone))
    let exact = 0
    for (let k = 0; k < LOOKUPS; k++) {
      const target = new Uint8Array(randomBytes(64))
      const d = nodes[1 + (k % (N - 1))]!
      const res = await d.lookup(target)
      const want = closest(
        keccak256(target),
        nodes.filter((x) => x !== d).map((x) => x.self()),
        16,
      ).map((n) => Buffer.from(n.id).toString('hex'))
      const got = new Set(res.map((n) => Buffer.from(n.id).toString('hex')))
      if (want.every((w) => got.has(w))) exact++
    }
    assert.ok(exact >= LOOKUPS - 1, `exact lookups: ${exact}/${LOOKUPS}`)
  } finally {
    for (const d of nodes) await d.stop()
  }
  for (const d of nodes) assert.ok(d.stats().maxPacketOut <= 1280)
})
