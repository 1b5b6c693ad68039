// Simulation (issue 5 "Proof"): 200 discovery v4 nodes in one process on 127.0.0.1, bootstrapped from one node.
// Every table must reach 16 nodes within a bound, and lookups for random targets must return the true 16 closest
// nodes (computed from the full node list) in ≥ 95 % of the lookups. All 200 nodes share one event loop, so the
// reply deadline is raised to 3 s (geth's 500 ms assumes one process per node; with 1 s, a loaded 2-core machine
// answered late, so the last ~60 joiners timed out against the bootnode and were stuck at 0–1 entries). The run
// is CPU-bound (every packet is signed and its sender recovered): about 80 s alone, 130–140 s in a full-suite run
// on 2 cores, and it must end within the suite's per-file limit (package.json --test-timeout, 420 s; at 180 s one
// full-suite run beside other load was cancelled in its random lookups). Tables fill in 6–8 s alone or in the
// suite, but the bound is 180 s: in a full-suite run beside a CPU hog, 18 late joiners still held only the
// bootnode at 60 s. Their pings to it were answered after the 3 s deadline (counted as unsolicited): the bootnode,
// which every early lookup asks, is one socket among 200 that one event loop serves in turn, so while the initial
// refreshes run it falls seconds behind. Beside one hog the last table filled at 61–76 s, beside two at 77–103 s.
// Nodes start in groups of 10 every 250 ms; a node still short of 16 after each 5 s runs one more lookup (it would
// otherwise wait for the 15–30 min refresh). FINDNODE answers include nodes not yet liveness-checked (geth's NoFindnodeLivenessCheck,
// which geth's own simulations use): with revalidation at one PING per 3 s, a young 200-node network would
// otherwise answer with the few checked nodes only. Before measuring lookups every node runs one self lookup, as
// geth's refresh does, so that early joiners know the nodes that arrived after their own first refresh. The
// measured lookups run four at a time, each next one as soon as one ends: eight at once congested the shared event
// loop into reply timeouts (35/40 exact).
// 100 lookups, not 40: the criterion is a rate, and with 40 a network whose true rate is 98.5 % fails ≥ 95 % in
// about 2 % of runs (CI saw 37/40 once, with 99.5 % of the closest nodes found); with 100 it is under 0.5 %.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { DISCV4_MAX_PACKET_SIZE } from '../../codecs/discv4.ts'
import { BUCKET_SIZE } from '../../codecs/kad.ts'
import { inPool, overlap, percentile, type SimNet, startNet, totals, trueClosest } from './discv4-net.ts'

const N = 200
const FILL_BOUND_MS = 180_000
const KICK_EVERY_MS = 5_000
const LOOKUPS = 100
const LOOKUP_POOL = 4
const SELF_LOOKUP_POOL = 25
const timeoutCount = (net: SimNet) => net.nodes.reduce((a, d) => a + d.stats().timeouts, 0)
const log = (s: string) => process.stderr.write(`# sim: ${s}\n`)

describe(`discovery v4 simulation: ${N} nodes on 127.0.0.1`, { timeout: 410_000 }, () => {
  let net: SimNet | undefined
  after(async () => {
    await net?.stop()
  })

  it('every table reaches 16 nodes; random lookups find the true 16 closest in ≥ 95 %', {
    timeout: 410_000,
  }, async () => {
    const t0 = performance.now()
    net = await startNet(N, {
      batch: 10,
      batchGapMs: 250,
      config: { replyTimeout: 3_000, bondWait: 500, noFindnodeLivenessCheck: true },
    })
    const ports = new Set(net.nodes.map((d) => d.address().port))
    assert.equal(ports.size, N, 'distinct ports')
    log(`${N} nodes started in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    // 1. table fill, bounded
    const reached: Array<number | undefined> = net.nodes.map(() => undefined)
    const end = performance.now() + FILL_BOUND_MS
    let lastKick = performance.now()
    for (;;) {
      const now = performance.now()
      net.nodes.forEach((d, i) => {
        if (reached[i] === undefined && d.table.len() >= BUCKET_SIZE) reached[i] = now - net!.startedAt[i]!
      })
      const short = net.nodes.filter((_, i) => reached[i] === undefined)
      if (short.length === 0 || now > end) break
      if (now - lastKick > KICK_EVERY_MS) {
        lastKick = now
        for (const d of short) d.lookup().catch(() => {})
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    const times = reached.filter((x): x is number => x !== undefined)
    log(
      `tables ≥ 16: ${times.length}/${N}; after own start: median ${(percentile(times, 0.5) / 1000).toFixed(2)} s, ` +
        `p95 ${(percentile(times, 0.95) / 1000).toFixed(2)} s, max ${(percentile(times, 1) / 1000).toFixed(2)} s`,
    )
    // the short tables' sizes and the nodes' counters, for a run that fails
    const shortTables = net.nodes.flatMap((d, i) =>
      reached[i] === undefined ? [`#${i}: ${d.table.len()} ${JSON.stringify(d.stats())}`] : [],
    )
    assert.equal(
      times.length,
      N,
      `${N - times.length} tables below 16 after ${FILL_BOUND_MS / 1000} s: ${shortTables.join('; ')}`,
    )

    // 2. settle: one self lookup per node
    const t1 = performance.now()
    await inPool(N, SELF_LOOKUP_POOL, async (i) => {
      const d = net!.nodes[i]!
      await d.lookup(d.self().pubkey).catch(() => [])
    })
    log(`self lookups done in ${((performance.now() - t1) / 1000).toFixed(1)} s`)

    // 3. random lookups against the ground truth
    const before = totals(net).packetsOut
    const timeoutsBefore = timeoutCount(net)
    let exact = 0
    let found = 0
    const latency: number[] = []
    await inPool(LOOKUPS, LOOKUP_POOL, async () => {
      const q = net!.nodes[1 + Math.floor(Math.random() * (N - 1))]!
      const target = new Uint8Array(randomBytes(64))
      const s = performance.now()
      const got = await q.lookup(target)
      latency.push(performance.now() - s)
      const o = overlap(trueClosest(net!, target, BUCKET_SIZE, q), got.slice(0, BUCKET_SIZE))
      found += o
      if (o === BUCKET_SIZE) exact++
    })
    const t = totals(net)
    log(
      `lookups: ${exact}/${LOOKUPS} exact, ${((100 * found) / (BUCKET_SIZE * LOOKUPS)).toFixed(1)} % of the true ` +
        `closest found; latency median ${percentile(latency, 0.5).toFixed(0)} ms, p95 ${percentile(latency, 0.95).toFixed(0)} ms; ` +
        `≈ ${((t.packetsOut - before) / LOOKUPS).toFixed(0)} packets sent network-wide per lookup; ` +
        `${timeoutCount(net) - timeoutsBefore} reply timeouts; ${t.packetsOut} packets in total, largest ${t.maxPacketOut} B; whole run ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )
    assert.ok(
      exact >= Math.ceil(0.95 * LOOKUPS),
      `only ${exact}/${LOOKUPS} lookups found the true 16 closest`,
    )
    assert.ok(t.maxPacketOut <= DISCV4_MAX_PACKET_SIZE, `sent a ${t.maxPacketOut}-byte packet`)
  })
})
