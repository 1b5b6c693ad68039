// One side of a two-process RLPx benchmark, driven over IPC by bench/rlpx-session.bench.ts and
// bench/peer-memory.bench.ts: `node --import tsx bench/procs/rlpx-node.ts <ours|ethjs>`. Commands (one reply each):
//   listen                         → { port, pubkey }   accept peers; echo 3, count 0, answer 1 with 2
//   handshakes { port, pubkey, lanes, ms } → { count, elapsedMs, latencies }  dial, await Hello, drop; repeat
//   throughput { port, pubkey, size, ms }  → { count, bytes, elapsedMs }   data messages then fin → fin-ack
//   rtt { port, pubkey, ms }               → { latencies }                 echo request/response, one at a time
//   hold { port, pubkey, n, lanes }        → { peers }                     open n connections and keep them
//   release                                → { released }                  drop the held connections
//   memory                                 → { rss, heapUsed, external, arrayBuffers, peers (open), accepted } after GC
//   cpu                                    → { cpuMs } user + system CPU time of this process so far
//   exit                                   → closes everything and exits
import { performance } from 'node:perf_hooks'
import { payload } from '../lib.ts'
import { BENCH_MSG, type BenchConn, type BenchImpl, type BenchNode, settledMemory } from './impl.ts'

const implName = process.argv[2]
const impl: BenchImpl =
  implName === 'ethjs'
    ? (await import('./ethjs-impl.ts')).ethjsImpl
    : (await import('./ours-impl.ts')).oursImpl

type Cmd = {
  cmd: string
  port?: number
  pubkey?: string
  lanes?: number
  ms?: number
  size?: number
  n?: number
}

const nodes: BenchNode[] = []
const held: BenchConn[] = []
let inbound = 0
let live = 0

const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255)
const readU32 = (b: Uint8Array) => ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0

function serve(c: BenchConn): void {
  inbound++
  live++
  c.closed.then(() => live--)
  let received = 0
  c.onMessage((code, payload) => {
    if (code === BENCH_MSG.data) received++
    else if (code === BENCH_MSG.fin) {
      c.send(BENCH_MSG.finAck, u32(received))
      received = 0
    } else if (code === BENCH_MSG.echo) c.send(BENCH_MSG.echo, payload)
  })
}

/** Dialer identities: `k` nodes that take turns, so a redial never races the listener's close of the last one. */
async function dialers(k: number): Promise<BenchNode[]> {
  const out: BenchNode[] = []
  for (let i = 0; i < k; i++) out.push(await impl.start({ listen: false, maxPeers: 4 }))
  nodes.push(...out)
  return out
}

async function handshakes(c: Cmd) {
  const lanes = c.lanes ?? 1
  const pool = await dialers(lanes * 2)
  const target = Buffer.from(c.pubkey ?? '', 'hex')
  const latencies: number[] = []
  const one = async (node: BenchNode) => {
    const t = performance.now()
    const conn = await node.dial(target, c.port ?? 0)
    latencies.push(performance.now() - t)
    await conn.close()
  }
  // warm-up: JIT, first-use crypto tables
  for (let i = 0; i < 5; i++) await one(pool[i % pool.length])
  latencies.length = 0
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  const end = start + (c.ms ?? 2000)
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      let turn = 0
      while (performance.now() < end) await one(pool[lane * 2 + (turn++ % 2)])
    }),
  )
  const elapsedMs = performance.now() - start
  const cpu = process.cpuUsage(cpu0)
  return { count: latencies.length, elapsedMs, latencies, cpuMs: (cpu.user + cpu.system) / 1000 }
}

async function connect(c: Cmd): Promise<BenchConn> {
  const [node] = await dialers(1)
  return node.dial(Buffer.from(c.pubkey ?? '', 'hex'), c.port ?? 0)
}

function replies(conn: BenchConn) {
  let waiter: ((p: Uint8Array) => void) | undefined
  conn.onMessage((_code, p) => waiter?.(p))
  return () => new Promise<Uint8Array>((resolve) => (waiter = resolve))
}

async function throughput(c: Cmd) {
  const conn = await connect(c)
  const next = replies(conn)
  const data = payload(c.size ?? 1024)
  const run = async (ms: number) => {
    let count = 0
    const start = performance.now()
    const end = start + ms
    const batch = Math.max(1, Math.min(64, Math.floor(262_144 / data.length)))
    while (true) {
      for (let i = 0; i < batch; i++) {
        count++
        const wait = conn.send(BENCH_MSG.data, data)
        if (wait) await wait
      }
      if (performance.now() >= end) break
    }
    const ack = next()
    await conn.send(BENCH_MSG.fin, new Uint8Array(0))
    const got = readU32(await ack)
    if (got !== count) throw new Error(`listener counted ${got} of ${count} messages`)
    return { count, bytes: count * data.length, elapsedMs: performance.now() - start }
  }
  await run(Math.min(300, (c.ms ?? 2000) / 5))
  const r = await run(c.ms ?? 2000)
  await conn.close()
  return r
}

async function rtt(c: Cmd) {
  const conn = await connect(c)
  const next = replies(conn)
  const req = payload(64)
  const latencies: number[] = []
  const once = async () => {
    const t = performance.now()
    const reply = next()
    await conn.send(BENCH_MSG.echo, req)
    await reply
    return performance.now() - t
  }
  for (let i = 0; i < 200; i++) await once()
  const end = performance.now() + (c.ms ?? 1000)
  while (performance.now() < end) latencies.push(await once())
  await conn.close()
  return { latencies }
}

async function hold(c: Cmd) {
  const n = c.n ?? 500
  const lanes = c.lanes ?? 8
  const target = Buffer.from(c.pubkey ?? '', 'hex')
  // one identity per connection: ethjs refuses a second connection from a node id it already has
  const pool = await dialers(n)
  let next = 0
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < n) held.push(await pool[next++].dial(target, c.port ?? 0))
    }),
  )
  return { peers: held.length }
}

async function memory() {
  const m = await settledMemory()
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    peers: live,
    accepted: inbound,
  }
}

async function handle(c: Cmd): Promise<unknown> {
  switch (c.cmd) {
    case 'listen': {
      const node = await impl.start({ listen: true, maxPeers: 2000 })
      nodes.push(node)
      node.onPeer(serve)
      return { port: node.port, pubkey: Buffer.from(node.pubkey).toString('hex') }
    }
    case 'handshakes':
      return handshakes(c)
    case 'throughput':
      return throughput(c)
    case 'rtt':
      return rtt(c)
    case 'hold':
      return hold(c)
    case 'release': {
      const n = held.length
      await Promise.all(held.splice(0).map((h) => h.close()))
      return { released: n }
    }
    case 'memory':
      return memory()
    case 'heapsnapshot': {
      // profiling aid: `{ cmd: 'heapsnapshot', path }` writes a V8 heap snapshot of this process
      const { writeHeapSnapshot } = await import('node:v8')
      return { file: writeHeapSnapshot((c as { path?: string }).path) }
    }
    case 'cpu': {
      const u = process.cpuUsage()
      return { cpuMs: (u.user + u.system) / 1000 }
    }
    case 'exit': {
      await Promise.all(held.map((h) => h.close()))
      await Promise.all(nodes.map((n) => n.close()))
      process.disconnect?.()
      setTimeout(() => process.exit(0), 200).unref()
      return undefined
    }
    default:
      throw new Error(`unknown command ${c.cmd}`)
  }
}

process.on('message', (c: Cmd) => {
  handle(c).then(
    (result) => result !== undefined && process.send?.({ ok: true, result }),
    (err: Error) => process.send?.({ ok: false, error: String(err?.stack ?? err) }),
  )
})
process.send?.({ ok: true, result: { ready: impl.name } })
