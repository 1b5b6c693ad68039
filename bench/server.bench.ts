import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SERVER_V8_FLAGS } from '../actors/v8-tuning.ts'
import { type Row, report } from './lib.ts'
import { median, type NodeProc, quantile, spawnBenchProc } from './procs/driver.ts'

const MS = Number(process.env.BENCH_MS ?? 3000)
const PEERS = Number(process.env.BENCH_PEERS ?? 500)
const WARMUP_PEERS = 24
/**
 * rotations over the three arms of the supervisor-overhead measurement (BENCH_OVERHEAD_ROUNDS=N for more: one
 * round's difference has a standard deviation of 0.15–0.3 ms, so 12 rounds leave the run's figure ±0.05–0.09 ms),
 * and their length
 */
const OVERHEAD_ROUNDS = Math.max(1, Number(process.env.BENCH_OVERHEAD_ROUNDS ?? 12))
const ROUND_MS = MS / 4
/** rotations run before the counted ones */
const WARMUP_ROUNDS = 1
const here = dirname(fileURLToPath(import.meta.url))
const script = join(here, 'procs', 'server-node.ts')

type Proc = NodeProc

const spawnProc = (nodeFlags: string[] = []): Promise<Proc> =>
  spawnBenchProc(script, [], 'bench process', nodeFlags)

type Target = { port: number; pubkey: string }
type Connects = { count: number; failed: number; elapsedMs: number; latencies: number[]; cpuMs: number }

interface Rates {
  rate1: number
  med1: number
  p95_1: number
  rate8: number
  /** 8 lanes of RLPx + Hello dialers (server only) */
  rate8Light: number
  med8: number
  p95_8: number
  /** listener CPU per established connection (1 lane) */
  cpuListener: number
  /** dialer CPU per established connection (1 lane) */
  cpuDialer: number
  failed: number
  overhead?: Overhead
}

type Acc = { cpu: number; main: number; sup: number; attempts: number; count: number; ms: number }

interface Overhead {
  /**
   * listener-process CPU per connection over all rounds: through createServer / bare startPeer fed by the
   * server's accept loop (actors/listener.ts) / bare startPeer fed by a plain node:net server
   */
  cpuServer: number
  cpuListenerArm: number
  cpuBare: number
  rateServer: number
  rateListenerArm: number
  rateBare: number
  /** the same for the main thread alone (the event loop, without V8's helper threads): less noisy */
  mainServer: number
  mainListenerArm: number
  /** per-round (server − listener arm) CPU per connection: the supervisor */
  rounds: number[]
  /** the same on the main thread */
  mainRounds: number[]
  /** median of the rounds, as a share of the server's CPU per connection (%) */
  medianShare: number
  /**
   * the supervisor clock (bench/procs/server-node.ts): time inside the server machine's own event handling per
   * createServer connection, and per round
   */
  inPlace: number
  inPlaceRounds: number[]
}

/**
 * Connections per second (1 and 8 lanes) from a fresh listener and dialer process. For our server, unless
 * `asBinary`, also the rotating overhead rounds and the RLPx + Hello dialers; `asBinary`: both processes with the
 * V8 flags the devp2p-actors binary applies (actors/v8-tuning.ts) and, in place of the rounds, a longer warm-up.
 */
async function rates(listenKind: 'server' | 'ethjs', asBinary = false): Promise<Rates> {
  const dialKind = listenKind === 'ethjs' ? 'ethjs' : 'ours'
  const flags = asBinary ? [...SERVER_V8_FLAGS] : []
  const listener = await spawnProc(flags)
  const dialer = await spawnProc(flags)
  try {
    const target = await listener.call<Target>({ cmd: 'listen', kind: listenKind, maxPeers: 2000 })
    const cpu = () => listener.call<{ cpuMs: number; mainMs: number; supervisorMs: number }>({ cmd: 'cpu' })
    const run = async (t: Target, lanes: number, ms = MS, kind = dialKind) => {
      const c0 = await cpu()
      const r = await dialer.call<Connects>({ cmd: 'connects', kind, ...t, lanes, ms })
      const c1 = await cpu()
      // the listener's CPU includes the 8 warm-up connections and failed attempts
      return {
        r,
        cpuMs: c1.cpuMs - c0.cpuMs,
        mainMs: c1.mainMs - c0.mainMs,
        supMs: c1.supervisorMs - c0.supervisorMs,
        attempts: r.count + r.failed + 8,
      }
    }
    // warm-up: the listener's CPU per connection settles only after a few hundred connections (JIT)
    await run(target, 8, Math.min(2000, MS))
    let overhead: Overhead | undefined
    // about as many connections as the overhead rounds run before the main run's rate runs (JIT)
    if (asBinary) await run(target, 8, 3 * MS)
    else if (listenKind === 'server') {
      // The same process also accepts on two more ports with bare startPeer per socket (no server, no
      // supervisor machine, an accept-all checkpoint actor): one fed by the server's own accept loop
      // (actors/listener.ts: slots, netrestrict, inbound throttle), one by a plain node:net server. Rounds
      // rotate over the three so JIT state, GC and machine load are shared; server − listener arm is the
      // supervisor's own cost (machine events, checks, bookkeeping), listener arm − plain the accept loop's.
      const arms = [
        target,
        await listener.call<Target>({ cmd: 'listen', kind: 'bare-listener' }),
        await listener.call<Target>({ cmd: 'listen', kind: 'bare' }),
      ]
      for (const t of arms.slice(1)) await run(t, 8, Math.min(2000, MS))
      // and rotations not counted: the first ones still measure the JIT re-tiering the switch between the
      // paths causes (their differences came out 2–3× the later ones)
      for (let i = 0; i < WARMUP_ROUNDS; i++) for (const t of arms) await run(t, 1, ROUND_MS)
      const acc = arms.map(() => ({ cpu: 0, main: 0, sup: 0, attempts: 0, count: 0, ms: 0 }))
      const rounds: number[] = []
      const mainRounds: number[] = []
      const shares: number[] = []
      const inPlaceRounds: number[] = []
      await listener.call({ cmd: 'clock', on: true })
      for (let i = 0; i < OVERHEAD_ROUNDS; i++) {
        const per: number[] = []
        const perMain: number[] = []
        // order rotates per round: each arm runs first, second and third equally often
        for (let j = 0; j < arms.length; j++) {
          const k = (i + j) % arms.length
          const x = await run(arms[k]!, 1, ROUND_MS)
          const a = acc[k]!
          a.cpu += x.cpuMs
          a.main += x.mainMs
          a.sup += x.supMs
          if (k === 0) inPlaceRounds.push(x.supMs / x.attempts)
          a.attempts += x.attempts
          a.count += x.r.count
          a.ms += x.r.elapsedMs
          per[k] = x.cpuMs / x.attempts
          perMain[k] = x.mainMs / x.attempts
        }
        rounds.push(per[0]! - per[1]!)
        mainRounds.push(perMain[0]! - perMain[1]!)
        shares.push(((per[0]! - per[1]!) / per[0]!) * 100)
      }
      await listener.call({ cmd: 'clock', on: false })
      const [sv, ls, pl] = acc as [Acc, Acc, Acc]
      overhead = {
        cpuServer: sv.cpu / sv.attempts,
        cpuListenerArm: ls.cpu / ls.attempts,
        cpuBare: pl.cpu / pl.attempts,
        mainServer: sv.main / sv.attempts,
        mainListenerArm: ls.main / ls.attempts,
        rateServer: (sv.count * 1000) / sv.ms,
        rateListenerArm: (ls.count * 1000) / ls.ms,
        rateBare: (pl.count * 1000) / pl.ms,
        rounds,
        mainRounds,
        medianShare: median(shares),
        inPlace: sv.sup / sv.attempts,
        inPlaceRounds,
      }
    }
    // the rate runs last: the listener's CPU per connection keeps falling for ~1 000 connections (JIT)
    const one = await run(target, 1)
    const eight = await run(target, 8)
    // the same with RLPx + Hello dialers (no peer machine): a lighter load generator, as geth's p2p.Server
    // anchor was measured with its rlpx package; on 2 cores less dialer CPU leaves more to the listener
    const eightLight = listenKind === 'server' && !asBinary ? await run(target, 8, MS, 'rlpx') : undefined
    return {
      rate1: (one.r.count * 1000) / one.r.elapsedMs,
      med1: median(one.r.latencies),
      p95_1: quantile(one.r.latencies, 0.95),
      rate8: (eight.r.count * 1000) / eight.r.elapsedMs,
      rate8Light: eightLight ? (eightLight.r.count * 1000) / eightLight.r.elapsedMs : Number.NaN,
      med8: median(eight.r.latencies),
      p95_8: quantile(eight.r.latencies, 0.95),
      cpuListener: one.cpuMs / one.attempts,
      cpuDialer: one.r.cpuMs / one.r.count,
      failed: one.r.failed + eight.r.failed,
      overhead,
    }
  } finally {
    await Promise.all([dialer.exit(), listener.exit()])
  }
}

type Mem = { rss: number; heapUsed: number; heapTotal: number; peers: number }

/** Per-peer memory of the server process holding PEERS idle inbound peers (after a warm-up, after GC). */
async function memoryPerPeer() {
  // a 1 MiB young generation, as bench/peer-memory.bench.ts: the dial burst would otherwise grow new space by
  // tens of MB, and that growth (not the peers) would dominate the RSS difference
  const listener = await spawnProc(['--max-semi-space-size=1'])
  const dialer = await spawnProc()
  try {
    const target = await listener.call<Target>({ cmd: 'listen', kind: 'server', maxPeers: 2 * PEERS })
    await dialer.call({ cmd: 'hold', kind: 'ours', ...target, n: WARMUP_PEERS, lanes: 8 }, 60_000)
    await dialer.call({ cmd: 'release' })
    // the rate with no peers held, in this same process (small young generation), to compare with the rate below
    const idle = await dialer.call<Connects>({
      cmd: 'connects',
      kind: 'ours',
      ...target,
      lanes: 1,
      ms: MS / 2,
    })
    await new Promise((r) => setTimeout(r, 300))
    const before = await listener.call<Mem>({ cmd: 'memory' })
    const t0 = performance.now()
    await dialer.call({ cmd: 'hold', kind: 'ours', ...target, n: PEERS, lanes: 8 }, 180_000)
    const openMs = performance.now() - t0
    await new Promise((r) => setTimeout(r, 1000))
    const after = await listener.call<Mem>({ cmd: 'memory' })
    const n = after.peers - before.peers
    if (n < PEERS) throw new Error(`server holds ${after.peers} of ${PEERS} peers`)
    // connections keep coming while the server holds PEERS peers (per-event costs that grow with the peer count
    // would show here)
    const busy = await dialer.call<Connects>({
      cmd: 'connects',
      kind: 'ours',
      ...target,
      lanes: 1,
      ms: MS / 2,
    })
    return {
      openMs,
      busyRate: (busy.count * 1000) / busy.elapsedMs,
      idleRate: (idle.count * 1000) / idle.elapsedMs,
      rss: (after.rss - before.rss) / n / 1000,
      heap: (after.heapUsed - before.heapUsed) / n / 1000,
      heapTotal: (after.heapTotal - before.heapTotal) / n / 1000,
    }
  } finally {
    await Promise.all([dialer.exit(), listener.exit()])
  }
}

// BENCH_PARTS=server,ethjs,memory (default: all) skips the others while investigating
const parts = new Set((process.env.BENCH_PARTS ?? 'server,ethjs,memory').split(','))
const none: Rates = {
  rate1: Number.NaN,
  med1: Number.NaN,
  p95_1: Number.NaN,
  rate8: Number.NaN,
  rate8Light: Number.NaN,
  med8: Number.NaN,
  p95_8: Number.NaN,
  cpuListener: Number.NaN,
  cpuDialer: Number.NaN,
  failed: 0,
}
const t0 = performance.now()
// BENCH_SERVER_RUNS=N: the server part N times, each with a fresh pair of processes; every row is then the median
// over the runs (one run's supervisor overhead has a standard error of ~30 µs, and the machine drifts between runs)
const serverRuns = Math.max(1, Number(process.env.BENCH_SERVER_RUNS ?? 1))
const runs: Rates[] = []
if (parts.has('server')) for (let i = 0; i < serverRuns; i++) runs.push(await rates('server'))
// BENCH_BINARY=0 skips the rates under the binary's V8 flags
const binary = parts.has('server') && process.env.BENCH_BINARY !== '0' ? await rates('server', true) : none
const ethjs = parts.has('ethjs') ? await rates('ethjs') : none
const mem = parts.has('memory')
  ? await memoryPerPeer()
  : {
      rss: Number.NaN,
      heap: Number.NaN,
      heapTotal: Number.NaN,
      openMs: Number.NaN,
      busyRate: Number.NaN,
      idleRate: Number.NaN,
    }
const noOverhead: Overhead = {
  cpuServer: Number.NaN,
  cpuListenerArm: Number.NaN,
  cpuBare: Number.NaN,
  mainServer: Number.NaN,
  mainListenerArm: Number.NaN,
  rateServer: Number.NaN,
  rateListenerArm: Number.NaN,
  rateBare: Number.NaN,
  rounds: [],
  mainRounds: [],
  medianShare: Number.NaN,
  inPlace: Number.NaN,
  inPlaceRounds: [],
}

/** What one server run says of the supervisor (its overhead rows). */
function derived(r: Rates) {
  const ov = r.overhead ?? noOverhead
  const supervisorMs = ov.cpuServer - ov.cpuListenerArm
  const mainMs = ov.mainServer - ov.mainListenerArm
  return {
    ...ov,
    supervisorMs,
    supervisorShare: (supervisorMs / ov.cpuServer) * 100,
    listenerMs: ov.cpuListenerArm - ov.cpuBare,
    mainMs,
    mainShare: (mainMs / ov.mainServer) * 100,
    // the per-round differences are paired (same process, adjacent in time)
    mainSe: standardError(ov.mainRounds),
    inPlaceShare: (ov.inPlace / ov.cpuServer) * 100,
    inPlaceSe: standardError(ov.inPlaceRounds),
  }
}

/** The standard error of the mean of `xs` (NaN for fewer than two). */
function standardError(xs: readonly number[]): number {
  const n = xs.length
  if (n < 2) return Number.NaN
  const mean = xs.reduce((s, x) => s + x, 0) / n
  return Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) / n)
}

/** Field by field, the median over the runs (NaN without runs). */
function medianOf<T extends object>(xs: readonly T[]): T {
  const out = { ...xs[0] } as Record<string, unknown>
  for (const k of Object.keys(out))
    if (typeof out[k] === 'number')
      out[k] = xs.length === 0 ? Number.NaN : median(xs.map((x) => (x as Record<string, number>)[k]!))
  return out as T
}

const perRun = runs.map(derived)
const server: Rates =
  runs.length === 0 ? none : { ...medianOf(runs), failed: runs.reduce((s, r) => s + r.failed, 0) }
// the overhead rows, of the one run or the medians over the runs
const ov = perRun.length === 0 ? derived(none) : medianOf(perRun)
const { supervisorMs, supervisorShare, listenerMs, mainMs, mainSe } = ov

const rows: Row[] = [
  {
    name: 'connections established through createServer, 1 dialer lane',
    unit: 'conn/s',
    ours: server.rate1,
    ethjs: ethjs.rate1,
    target: '≥ 10× ethjs; ≥ 309 (geth p2p.Server 464 / 1.5)',
  },
  { name: '… latency median, 1 lane', unit: 'ms', ours: server.med1, ethjs: ethjs.med1 },
  { name: '… latency p95, 1 lane', unit: 'ms', ours: server.p95_1, ethjs: ethjs.p95_1 },
  {
    name: 'connections established through createServer, 8 dialer lanes',
    unit: 'conn/s',
    ours: server.rate8,
    ethjs: ethjs.rate8,
    target: '≥ 10× ethjs; ≥ 805 (geth p2p.Server 1 208 / 1.5)',
  },
  {
    name: '… the same with RLPx + Hello dialers (no peer machine on the dialling side)',
    unit: 'conn/s',
    ours: server.rate8Light,
  },
  { name: '… latency median, 8 lanes', unit: 'ms', ours: server.med8, ethjs: ethjs.med8 },
  { name: '… latency p95, 8 lanes', unit: 'ms', ours: server.p95_8, ethjs: ethjs.p95_8 },
  {
    name: 'listener CPU per connection (server process)',
    unit: 'ms',
    ours: server.cpuListener,
    ethjs: ethjs.cpuListener,
  },
  {
    name: 'dialer CPU per connection (dialer process)',
    unit: 'ms',
    ours: server.cpuDialer,
    ethjs: ethjs.cpuDialer,
  },
  {
    name: `connections through createServer, both processes as the devp2p-actors binary runs (${SERVER_V8_FLAGS.join(' ')}), 1 dialer lane`,
    unit: 'conn/s',
    ours: binary.rate1,
  },
  { name: '… the same, 8 lanes', unit: 'conn/s', ours: binary.rate8 },
  { name: '… the same, listener CPU per connection (1 lane)', unit: 'ms', ours: binary.cpuListener },
  {
    name: `rotating 1-lane rounds (${OVERHEAD_ROUNDS}×): createServer connections`,
    unit: 'conn/s',
    ours: ov.rateServer,
  },
  {
    name: "… bare startPeer per socket from the server's accept loop (actors/listener.ts), no supervisor",
    unit: 'conn/s',
    ours: ov.rateListenerArm,
  },
  { name: '… bare startPeer per socket from a plain node:net server', unit: 'conn/s', ours: ov.rateBare },
  { name: '… listener CPU per connection, createServer', unit: 'ms', ours: ov.cpuServer },
  {
    name: '… listener CPU per connection, startPeer from the accept loop',
    unit: 'ms',
    ours: ov.cpuListenerArm,
  },
  { name: '… listener CPU per connection, startPeer from node:net', unit: 'ms', ours: ov.cpuBare },
  {
    name: 'supervisor overhead per connection (createServer − startPeer from the accept loop)',
    unit: 'ms',
    ours: supervisorMs,
  },
  {
    name: "supervisor overhead, share of a connection's CPU",
    unit: '%',
    ours: supervisorShare,
    target: '< 5 %',
  },
  { name: '… median of the rounds', unit: '%', ours: ov.medianShare, target: '< 5 %' },
  {
    name: 'supervisor overhead on the main thread (event loop; no GC/JIT helper threads) per connection',
    unit: 'ms',
    ours: mainMs,
  },
  { name: '… its standard error over the rounds', unit: 'ms', ours: mainSe },
  {
    name: "… share of the server's main-thread CPU per connection",
    unit: '%',
    ours: ov.mainShare,
    target: '< 5 %',
  },
  {
    name: "the supervisor's own event handling timed in place in the createServer rounds (its 3 events per connection: transitions, actions, emitted-event listeners; nested peers excluded) per connection",
    unit: 'ms',
    ours: ov.inPlace,
  },
  { name: '… its standard error over the rounds', unit: 'ms', ours: ov.inPlaceSe },
  {
    // part of the supervisor overhead above (the target), not a replacement for it
    name: "… share of the server's CPU per connection",
    unit: '%',
    ours: ov.inPlaceShare,
  },
  {
    name: "accept loop's own cost per connection (startPeer from it − from node:net)",
    unit: 'ms',
    ours: listenerMs,
  },
  {
    name: `RSS per idle peer through createServer, ${PEERS} peers`,
    unit: 'kB',
    ours: mem.rss,
    target: '≤ 40',
  },
  { name: `heap per idle peer through createServer, ${PEERS} peers`, unit: 'kB', ours: mem.heap },
  { name: `V8 heap committed (heapTotal) per peer, ${PEERS} peers`, unit: 'kB', ours: mem.heapTotal },
  { name: `time to open ${PEERS} peers through createServer, 8 lanes`, unit: 'ms', ours: mem.openMs },
  {
    name: 'connections/s, 1 lane, that server process with no peers held',
    unit: 'conn/s',
    ours: mem.idleRate,
  },
  { name: `… the same while it holds ${PEERS} peers`, unit: 'conn/s', ours: mem.busyRate },
]
report(
  `p2p server: connections through the checkpoint flow, supervisor overhead, memory per peer (loader: ${process.env.BENCH_LOADER === 'plain' ? 'plain' : 'tsx'}; V8 flags: ${process.env.BENCH_V8 || 'none'}${runs.length > 1 ? `; our connection and overhead rows: medians of ${runs.length} runs` : ''})`,
  rows,
)
console.log('(latency and CPU rows: lower is better, so a ratio < 1 means we are faster)')
if (perRun.length > 1)
  for (const [i, r] of perRun.entries())
    console.log(
      `(run ${i + 1}: ${runs[i]!.rate1.toFixed(0)} / ${runs[i]!.rate8.toFixed(0)} conn/s (RLPx + Hello dialers ${runs[i]!.rate8Light.toFixed(0)}), listener CPU ${runs[i]!.cpuListener.toFixed(2)} ms per connection, supervisor overhead ${r.supervisorMs.toFixed(3)} ms = ${r.supervisorShare.toFixed(1)} %, median of its rounds ${r.medianShare.toFixed(1)} %, timed in place ${(r.inPlace * 1000).toFixed(0)} µs = ${r.inPlaceShare.toFixed(1)} %)`,
    )
else console.log(`(supervisor overhead per round, ms: ${ov.rounds.map((x) => x.toFixed(3)).join(', ')})`)
if (server.failed + ethjs.failed > 0)
  console.log(`failed dials: server ${server.failed}, ethjs ${ethjs.failed}`)
console.log(`(bench took ${((performance.now() - t0) / 1000).toFixed(0)} s)`)
