// Discovery v4 benchmark beside @ethereumjs/devp2p's DPT in the same run (issue 5): PING packets handled per
// second by one node, the 50-node bootstrap race (every node holds ≥ 10 others; target median ≤ 2 s, never a packet
// over 1 280 bytes), lookup latency and packets per lookup in that network, and a 1 000-node run of ours within a
// time cap. Our nodes run with geth's defaults except in the 1 000-node run (one event loop for all nodes: reply
// deadline 1 s, staggered start, as tests/sim). ethjs has no iterative lookup, so lookup rows have no ethjs figure.
// The 1 000-node run does not fit in 2 minutes on 2 cores (measured: 228 of 1 000 nodes held 16 after 100 s, 181 k
// packets, all nodes sharing one event loop), so it is opt-in. Env: DISC_BENCH_BIG=1 runs it, DISC_BENCH_BIG_N sets
// its size; DISC_BENCH_ONLY_PING=1 stops after the PING figure.
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { DPT } from '@ethereumjs/devp2p'
import { createDiscv4, type Discv4 } from '../actors/discovery/service.ts'
import { DISCV4_MAX_PACKET_SIZE, encodePacket, expirationFrom } from '../codecs/discv4.ts'
import { generatePrivateKey } from '../crypto/secp256k1.ts'
import { percentile, startNet, totals } from '../tests/sim/discv4-net.ts'
import { type Row, report } from './lib.ts'

const FILL_N = 50
const FILL_MIN = 10
const FILL_CAP_MS = 60_000
const LOOKUPS = 20
const PING_WINDOW = 64
const PING_MS = 2_000
const BIG_N = Number(process.env.DISC_BENCH_BIG_N ?? 1000)
const BIG_CAP_MS = 100_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sec = (ms: number) => ms / 1000

// ---------------------------------------------------------------------------------------------------------------
// PING throughput: a raw socket keeps PING_WINDOW signed PINGs (from 64 keys) outstanding against one node and
// counts the PONGs; both implementations get the same bytes.

async function pingThroughput(targetPort: number): Promise<number> {
  const sock = dgram.createSocket('udp4')
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
  const myPort = sock.address().port
  const nowS = Math.floor(Date.now() / 1000)
  const packets = Array.from(
    { length: PING_WINDOW },
    () =>
      encodePacket(generatePrivateKey(), {
        type: 'ping',
        version: 4,
        from: { ip: '127.0.0.1', udp: myPort, tcp: myPort },
        to: { ip: '127.0.0.1', udp: targetPort, tcp: targetPort },
        expiration: expirationFrom(nowS, 60),
      }).bytes,
  )
  const hashes = packets.map((p) => Buffer.from(p.subarray(0, 32)))
  const sentAt = new Array<number>(PING_WINDOW).fill(0)
  let pongs = 0
  let counting = false
  const send = (slot: number) => {
    sentAt[slot] = performance.now()
    sock.send(packets[slot]!, targetPort, '127.0.0.1')
  }
  sock.on('message', (m) => {
    if (m[97] !== 0x02) return // only PONGs (type byte after hash + signature)
    const slot = hashes.findIndex((h) => m.indexOf(h, 98) >= 0) // the PONG echoes the PING hash
    if (slot < 0) return
    if (counting) pongs++
    send(slot)
  })
  // a PING whose PONG did not come within 100 ms is sent again, so losses do not shrink the window
  const retry = setInterval(() => {
    const now = performance.now()
    for (let k = 0; k < PING_WINDOW; k++) if (now - sentAt[k]! > 100) send(k)
  }, 20)
  for (let k = 0; k < PING_WINDOW; k++) send(k)
  await sleep(300) // warm-up
  counting = true
  const t0 = performance.now()
  await sleep(PING_MS)
  counting = false
  clearInterval(retry)
  const rate = pongs / sec(performance.now() - t0)
  await new Promise<void>((r) => sock.close(() => r()))
  return rate
}

async function oursPingRate(): Promise<number> {
  const d = createDiscv4({ privateKey: generatePrivateKey(), bindAddr: '127.0.0.1' })
  await d.start()
  try {
    return await pingThroughput(d.address().port)
  } finally {
    await d.stop()
  }
}

interface EthjsNet {
  dpts: DPT[]
  ports: number[]
  stats: { packets: number; bytes: number; max: number; over: number }
  close(): void
}

/** ethjs DPT nodes on 127.0.0.1; their advertised endpoint is patched to the bound port (ethjs needs it given). */
async function ethjsNodes(n: number): Promise<EthjsNet> {
  const stats = { packets: 0, bytes: 0, max: 0, over: 0 }
  const createSocket = () => {
    const s = dgram.createSocket({ type: 'udp4' })
    const send = s.send.bind(s) as (...a: unknown[]) => void
    ;(s as unknown as { send: (...a: unknown[]) => void }).send = (buf: unknown, ...rest: unknown[]) => {
      const len = (buf as Uint8Array).length
      stats.packets++
      stats.bytes += len
      stats.max = Math.max(stats.max, len)
      if (len > DISCV4_MAX_PACKET_SIZE) stats.over++
      send(buf, ...rest)
    }
    return s
  }
  const dpts: DPT[] = []
  for (let i = 0; i < n; i++) {
    const d = new DPT(new Uint8Array(randomBytes(32)), {
      endpoint: { address: '127.0.0.1', udpPort: null, tcpPort: null },
      createSocket,
      shouldFindNeighbours: true,
    })
    d.events.on('error', () => {})
    d.bind(0, '127.0.0.1')
    dpts.push(d)
  }
  await sleep(100)
  const ports = dpts.map((d) => {
    const srv = (
      d as unknown as { _server: { _socket: dgram.Socket; _endpoint: { udpPort: number; tcpPort: number } } }
    )._server
    const port = srv._socket.address().port
    srv._endpoint.udpPort = port
    srv._endpoint.tcpPort = port
    return port
  })
  return {
    dpts,
    ports,
    stats,
    close: () => {
      for (const d of dpts) d.destroy()
    },
  }
}

async function ethjsPingRate(): Promise<number> {
  const net = await ethjsNodes(1)
  try {
    return await pingThroughput(net.ports[0]!)
  } finally {
    net.close()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 50-node bootstrap race

interface Fill {
  done: number
  median: number
  p95: number
  max: number
  maxPacket: number
  over: number
  packets: number
}

function summarize(reached: Array<number | undefined>): Pick<Fill, 'done' | 'median' | 'p95' | 'max'> {
  const t = reached.filter((x): x is number => x !== undefined)
  if (t.length === 0) return { done: 0, median: Number.NaN, p95: Number.NaN, max: Number.NaN }
  return { done: t.length, median: percentile(t, 0.5), p95: percentile(t, 0.95), max: percentile(t, 1) }
}

async function ethjsFill(): Promise<Fill> {
  const net = await ethjsNodes(FILL_N)
  const t0 = performance.now()
  for (let i = 1; i < FILL_N; i++)
    void net.dpts[i]!.bootstrap({
      address: '127.0.0.1',
      udpPort: net.ports[0]!,
      tcpPort: net.ports[0]!,
    }).catch(() => {})
  const reached: Array<number | undefined> = net.dpts.map(() => undefined)
  while (performance.now() - t0 < FILL_CAP_MS) {
    await sleep(25)
    const now = performance.now() - t0
    net.dpts.forEach((d, i) => {
      if (reached[i] === undefined && d.getPeers().length >= FILL_MIN) reached[i] = now
    })
    if (reached.every((x) => x !== undefined)) break
  }
  net.close()
  return { ...summarize(reached), maxPacket: net.stats.max, over: net.stats.over, packets: net.stats.packets }
}

interface OursFill extends Fill {
  lookupMedian: number
  lookupP95: number
  packetsPerLookup: number
}

async function oursFill(): Promise<OursFill> {
  const t0 = performance.now()
  const net = await startNet(FILL_N)
  const reached: Array<number | undefined> = net.nodes.map(() => undefined)
  while (performance.now() - t0 < FILL_CAP_MS) {
    const now = performance.now()
    net.nodes.forEach((d, i) => {
      if (reached[i] === undefined && d.table.len() >= FILL_MIN) reached[i] = now - net.startedAt[i]!
    })
    if (reached.every((x) => x !== undefined)) break
    await sleep(25)
  }
  const fill = summarize(reached)
  const t = totals(net)
  // lookups, one at a time from random nodes, after the initial refreshes settled
  await Promise.race([Promise.all(net.nodes.map((d) => d.initDone)), sleep(30_000)])
  const lat: number[] = []
  const before = totals(net).packetsOut
  for (let i = 0; i < LOOKUPS; i++) {
    const q = net.nodes[1 + Math.floor(Math.random() * (FILL_N - 1))]!
    const s = performance.now()
    await q.lookup()
    lat.push(performance.now() - s)
  }
  const per = (totals(net).packetsOut - before) / LOOKUPS
  const maxPacket = totals(net).maxPacketOut
  await net.stop()
  return {
    ...fill,
    maxPacket,
    over: maxPacket > DISCV4_MAX_PACKET_SIZE ? 1 : 0,
    packets: t.packetsOut,
    lookupMedian: percentile(lat, 0.5),
    lookupP95: percentile(lat, 0.95),
    packetsPerLookup: per,
  }
}

async function oursBig(n: number): Promise<{
  n: number
  fill: ReturnType<typeof summarize>
  wallS: number
  packets: number
  maxPacket: number
}> {
  const t0 = performance.now()
  const net = await startNet(n, {
    batch: 20,
    batchGapMs: 200,
    config: { replyTimeout: 1_000, noFindnodeLivenessCheck: true },
  })
  const reached: Array<number | undefined> = net.nodes.map(() => undefined)
  while (performance.now() - t0 < BIG_CAP_MS) {
    const now = performance.now()
    net.nodes.forEach((d: Discv4, i) => {
      if (reached[i] === undefined && d.table.len() >= 16) reached[i] = now - net.startedAt[i]!
    })
    if (reached.every((x) => x !== undefined)) break
    await sleep(100)
  }
  const wallS = sec(performance.now() - t0)
  const t = totals(net)
  await net.stop()
  return { n, fill: summarize(reached), wallS, packets: t.packetsOut, maxPacket: t.maxPacketOut }
}

// ---------------------------------------------------------------------------------------------------------------

const oursPing = await oursPingRate()
const ethPing = await ethjsPingRate()
report('discv4: PING → PONG handled by one node (window 64, 64 sender keys)', [
  { name: 'PINGs answered', unit: 'packets/s', ours: oursPing, ethjs: ethPing },
])

if (process.env.DISC_BENCH_ONLY_PING === '1') process.exit(0)
const ours = await oursFill()
const eth = await ethjsFill()
const rows: Row[] = [
  { name: `nodes holding ≥ ${FILL_MIN} (of ${FILL_N})`, unit: 'nodes', ours: ours.done, ethjs: eth.done },
  {
    name: 'time to ≥ 10, median',
    unit: 's',
    ours: sec(ours.median),
    ethjs: sec(eth.median),
    target: '≤ 2 s (lower is better)',
  },
  {
    name: 'time to ≥ 10, p95',
    unit: 's',
    ours: sec(ours.p95),
    ethjs: sec(eth.p95),
    target: 'lower is better',
  },
  {
    name: 'time to ≥ 10, max',
    unit: 's',
    ours: sec(ours.max),
    ethjs: sec(eth.max),
    target: 'lower is better',
  },
  {
    name: 'largest packet sent',
    unit: 'bytes',
    ours: ours.maxPacket,
    ethjs: eth.maxPacket,
    target: '≤ 1280',
  },
  { name: 'packets over 1280 bytes', unit: 'packets', ours: ours.over, ethjs: eth.over, target: '0' },
  { name: 'packets sent until all hold ≥ 10', unit: 'packets', ours: ours.packets, ethjs: eth.packets },
  { name: 'lookup latency, median', unit: 'ms', ours: ours.lookupMedian },
  { name: 'lookup latency, p95', unit: 'ms', ours: ours.lookupP95 },
  { name: 'packets per lookup (network-wide)', unit: 'packets', ours: ours.packetsPerLookup },
]
report(`discv4: ${FILL_N}-node network bootstrapped from one node (127.0.0.1, one process each side)`, rows)

if (process.env.DISC_BENCH_BIG === '1') {
  const big = await oursBig(BIG_N)
  report(
    `discv4: ${big.n} nodes of ours in one process (reply deadline 1 s, staggered start, cap ${BIG_CAP_MS / 1000} s)`,
    [
      { name: 'nodes holding ≥ 16', unit: 'nodes', ours: big.fill.done },
      { name: 'time to ≥ 16 after own start, median', unit: 's', ours: sec(big.fill.median) },
      { name: 'time to ≥ 16 after own start, p95', unit: 's', ours: sec(big.fill.p95) },
      { name: 'wall time of the run', unit: 's', ours: big.wallS },
      { name: 'packets sent', unit: 'packets', ours: big.packets },
      { name: 'largest packet sent', unit: 'bytes', ours: big.maxPacket, target: '≤ 1280' },
    ],
  )
}
