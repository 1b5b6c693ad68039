// Benchmark: memory per idle connected peer with 500 peers open, ours beside @ethereumjs/devp2p 10 in the same
// run. The listener process (bench/procs/rlpx-node.ts) is measured after a full GC before any peer and again
// once a dialer process holds 500 connections past Hello (each from its own node id, 8 dial lanes) and they sat
// idle for a moment (after a warm-up of 24 peers opened and dropped, so the JIT's code for these paths is in
// the baseline; the listener runs with a 1 MiB young generation so the dial burst does not grow it); the
// difference in RSS and heap divided by the peer count is the per-peer cost (geth p2p.Server: ≈ 35–37 kB RSS,
// 10 kB heap per inbound peer, ANCHORS.md). BENCH_LOADER=plain loads our TypeScript without tsx's keepNames,
// which costs ~256 B per named closure created at run time (≈ 6 kB of heap per peer; bench/procs/plain-ts.mjs).
import { type Row, report } from './lib.ts'
import { spawnNode } from './procs/driver.ts'

const PEERS = Number(process.env.BENCH_PEERS ?? 500)
const WARMUP = 24
const impls = (process.env.BENCH_IMPLS ?? 'ours,ethjs').split(',') as ('ours' | 'ethjs')[]

type Mem = {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  peers: number
  accepted: number
}

async function perPeer(impl: 'ours' | 'ethjs') {
  // a 1 MiB young generation: the dial burst would otherwise grow new space by tens of MB, and that
  // growth (not the idle peers) would dominate the RSS difference and vary run to run
  const listener = await spawnNode(impl, ['--max-semi-space-size=1'])
  const dialer = await spawnNode(impl)
  try {
    const target = await listener.call<{ port: number; pubkey: string }>({ cmd: 'listen' })
    // warm-up: compile the connection paths on both sides (else their code lands in the per-peer figure)
    await dialer.call({ cmd: 'hold', ...target, n: WARMUP, lanes: 8 }, 60_000)
    await dialer.call({ cmd: 'release' })
    await new Promise((r) => setTimeout(r, 300))
    const before = await listener.call<Mem>({ cmd: 'memory' })
    const t0 = performance.now()
    await dialer.call({ cmd: 'hold', ...target, n: PEERS, lanes: 8 }, 180_000)
    const openMs = performance.now() - t0
    await new Promise((r) => setTimeout(r, 1000))
    const after = await listener.call<Mem>({ cmd: 'memory' })
    if (after.peers - before.peers < PEERS)
      throw new Error(`${impl}: listener has ${after.peers} of ${PEERS} peers`)
    const n = after.peers - before.peers
    return {
      rss: (after.rss - before.rss) / n / 1000,
      heap: (after.heapUsed - before.heapUsed) / n / 1000,
      heapTotal: (after.heapTotal - before.heapTotal) / n / 1000,
      external: (after.external - before.external) / n / 1000,
      openMs,
    }
  } finally {
    await Promise.all([dialer.exit(), listener.exit()])
  }
}

const results: Partial<Record<'ours' | 'ethjs', Awaited<ReturnType<typeof perPeer>>>> = {}
for (const impl of impls) results[impl] = await perPeer(impl)
const pick = (f: (x: Awaited<ReturnType<typeof perPeer>>) => number) => ({
  ours: results.ours ? f(results.ours) : Number.NaN,
  ethjs: results.ethjs ? f(results.ethjs) : undefined,
})
const rows: Row[] = [
  { name: `RSS per idle inbound peer, ${PEERS} peers`, unit: 'kB', ...pick((x) => x.rss), target: '≤ 35' },
  { name: `heap per idle inbound peer, ${PEERS} peers`, unit: 'kB', ...pick((x) => x.heap) },
  { name: `V8 heap committed (heapTotal) per peer, ${PEERS} peers`, unit: 'kB', ...pick((x) => x.heapTotal) },
  { name: `external + array buffers per peer, ${PEERS} peers`, unit: 'kB', ...pick((x) => x.external) },
  { name: `time to open ${PEERS} peers over 8 lanes`, unit: 'ms', ...pick((x) => x.openMs) },
]
report(`Memory per idle connected peer (listener process, ${PEERS} peers open)`, rows)
console.log('(every row here: lower is better, so a ratio < 1 means we use less)')
