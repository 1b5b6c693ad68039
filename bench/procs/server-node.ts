// One side of the two-process server benchmark (bench/server.bench.ts), driven over IPC:
// `node --import tsx bench/procs/server-node.ts`. A connection counts as established when the dialer received the
// listener's first `bench/1` message, which the listener sends from its protocol once the peer is added — for
// our server that is after both checkpoints (postHandshake, addPeer) of the supervisor.
// Commands (one reply each):
//   listen { kind: 'server' | 'bare' | 'bare-listener' | 'ethjs', maxPeers }  → { port, pubkey }
//       server: actors/server.ts createServer (listener, supervisor, metrics — the whole checkpoint flow)
//       bare:   startPeer per accepted socket with the default accept-all checkpoint supervisor (no server)
//       bare-listener: the same, with sockets from the server's accept loop (actors/listener.ts)
//       ethjs:  an @ethereumjs/devp2p RLPx server (TCP_NODELAY patched in, tests/interop/ethjs-harness.ts)
//   connects { kind: 'ours' | 'rlpx' | 'ethjs', port, pubkey, lanes, ms } → { count, failed, elapsedMs, latencies, cpuMs }
//       ours: a whole peer per connection (startPeer); rlpx: RLPx + Hello only (rlpxDialer)
//       dial, wait for the listener's first message, drop the TCP connection; repeat per lane (each lane rotates
//       over 4 dialer identities, so a redial never races the listener's removal of the previous peer)
//   hold { kind, port, pubkey, n, lanes }  → { peers }   open n connections (one identity each) and keep them
//   release                                → { released }
//   memory                                 → { rss, heapUsed, heapTotal, peers } after GC (listener side)
//   cpu                                    → { cpuMs, mainMs, supervisorMs } user + system CPU time of this process
//                                            so far, its main thread's, and the supervisor clock's total (below)
//   clock { on }                           → { on } start / stop the supervisor clock
//   exit                                   → closes everything and exits

import { readFileSync } from 'node:fs'
import {
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
  connect as tcpConnect,
} from 'node:net'
import { performance } from 'node:perf_hooks'
import { Actor, type AnyActorLogic } from 'xstate'
import { listen } from '../../actors/listener.ts'
import { createCheckpointSupervisor, type PeerSession, startPeer } from '../../actors/peer.ts'
import { RlpxConnection } from '../../actors/rlpx-connection.ts'
import { createServer, type Server } from '../../actors/server.ts'
import {
  BASE_PROTOCOL_LENGTH,
  BASE_PROTOCOL_VERSION,
  decodeHello,
  encodeHello,
  P2P_MSG,
  SNAPPY_PROTOCOL_VERSION,
} from '../../codecs/p2p.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'
import type { MsgReadWriter, Protocol } from '../../machines/protocol.ts'
import { type EthjsNode, peerSocket, rawProtocol, startEthjsNode } from '../../tests/interop/ethjs-harness.ts'
import { BENCH_CAP, BENCH_MSG, settledMemory } from './impl.ts'

type Cmd = {
  cmd: string
  on?: boolean
  kind?: string
  port?: number
  pubkey?: string
  lanes?: number
  ms?: number
  n?: number
  maxPeers?: number
}

const WELCOME = Uint8Array.of(1)
const IDS_PER_LANE = 4

// ---- the supervisor clock ----

/**
 * The supervisor's own event handling timed in place (`clock`, off by default): the wall time inside the server
 * machine's `_process` — one call per event it handles: its transition (checks, bookkeeping), its actions, the
 * listeners of what it emits — less the time of any other actor that ran nested in it (a peer taking the
 * checkpoint reply at once). XState's Actor binds `_process` into its mailbox at construction, so the wrapper is
 * installed before any actor exists; while the clock is off it costs one test and one call per event.
 */
let clockOn = false
let supervisorMs = 0
{
  const proto = Actor.prototype as unknown as { _process(this: Actor<AnyActorLogic>, event: unknown): void }
  const handle = proto._process
  // per nesting level: the time of the actors that ran nested in it so far
  const nested: number[] = []
  proto._process = function (event) {
    if (!clockOn) return handle.call(this, event)
    const t0 = performance.now()
    nested.push(0)
    try {
      handle.call(this, event)
    } finally {
      const dt = performance.now() - t0
      const inner = nested.pop()!
      if (nested.length > 0) nested[nested.length - 1]! += dt
      if ((this.logic as { id?: string }).id === 'server') supervisorMs += dt - inner
    }
  }
}

/** Listener side of `bench/1`: send the welcome as soon as the protocol runs, then stay up until EOF. */
function welcomeProtocol(onLive?: (rw: MsgReadWriter) => void): Protocol {
  return {
    ...BENCH_CAP,
    run: (_peer, rw) =>
      new Promise<void>((resolve) => {
        rw.messages$.subscribe({ complete: () => resolve(), error: () => resolve() })
        rw.send(BENCH_MSG.data, WELCOME).catch(() => {})
        onLive?.(rw)
      }),
  }
}

// ---- listeners ----

interface Listening {
  port: number
  pubkey: Uint8Array
  live(): number
  close(): Promise<void>
}

async function listenServer(maxPeers: number): Promise<Listening> {
  const privateKey = generatePrivateKey()
  const srv: Server = createServer({
    privateKey,
    listenAddr: '127.0.0.1:0',
    noDiscovery: true,
    maxPeers,
    name: 'devp2p-actors-bench',
    protocols: [welcomeProtocol()],
  })
  await srv.start()
  return {
    port: srv.self().tcp ?? 0,
    pubkey: publicKeyOf(privateKey),
    live: () => srv.peerCount(),
    close: () => srv.stop(),
  }
}

/**
 * startPeer per accepted socket with the default accept-all checkpoint supervisor: no server, no supervisor
 * machine. `viaListener`: sockets come from the server's own accept loop (actors/listener.ts: slots, netrestrict,
 * inbound throttle), released when the peer runs or ends as the server does — so that server − this is the
 * supervisor alone; otherwise from a plain node:net server.
 */
async function listenBare(viaListener: boolean): Promise<Listening> {
  const privateKey = generatePrivateKey()
  const supervisor = createCheckpointSupervisor()
  const sessions = new Set<PeerSession>()
  let live = 0
  const onSocket = (socket: Socket, release?: () => void) => {
    const s = startPeer({
      socket,
      privateKey,
      protocols: [
        welcomeProtocol(() => {
          live++
          release?.()
          void s.closed.then(() => live--)
        }),
      ],
      name: 'devp2p-actors-bench',
      supervisor,
    })
    s.dropped.catch(() => {})
    sessions.add(s)
    void s.closed.then(() => {
      sessions.delete(s)
      release?.()
    })
  }
  let port: number
  let closeServer: () => Promise<void>
  if (viaListener) {
    const l = await listen({ host: '127.0.0.1', port: 0, onConnection: onSocket })
    port = l.address().port
    closeServer = () => l.close()
  } else {
    const server: TcpServer = createTcpServer((socket) => onSocket(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const a = server.address()
    port = typeof a === 'object' && a ? a.port : 0
    closeServer = () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return {
    port,
    pubkey: publicKeyOf(privateKey),
    live: () => live,
    async close() {
      for (const s of sessions) s.connection.socket.destroy()
      await Promise.all([...sessions].map((s) => s.closed))
      await closeServer()
      supervisor.stop()
    },
  }
}

async function listenEthjs(maxPeers: number): Promise<Listening> {
  const node = await startEthjsNode({
    caps: [BENCH_CAP],
    maxPeers,
    clientId: 'ethjs-bench',
    keepPeers: false,
  })
  let live = 0
  node.rlpx.events.on('peer:added', (p) => {
    live++
    peerSocket(p).once('close', () => live--)
    rawProtocol(p, BENCH_CAP.name).send(BENCH_MSG.data, WELCOME)
  })
  return { port: node.port, pubkey: node.pubkey, live: () => live, close: () => node.close() }
}

// ---- dialers ----

interface Conn {
  close(): Promise<void>
}

interface Dialer {
  /** connect, resolve once the listener's welcome arrived */
  dial(pubkey: Uint8Array, port: number): Promise<Conn>
  close(): Promise<void>
}

function oursDialer(): Dialer {
  const privateKey = generatePrivateKey()
  const supervisor = createCheckpointSupervisor()
  const sessions = new Set<PeerSession>()
  return {
    async dial(pubkey, port) {
      const socket = tcpConnect(port, '127.0.0.1')
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      })
      let welcomed!: () => void
      const welcome = new Promise<void>((r) => {
        welcomed = r
      })
      const protocol: Protocol = {
        ...BENCH_CAP,
        run: (_peer, rw) =>
          new Promise<void>((resolve) => {
            rw.messages$.subscribe({
              next: () => welcomed(),
              complete: () => resolve(),
              error: () => resolve(),
            })
          }),
      }
      const session = startPeer({
        socket,
        privateKey,
        dialDest: { id: keccak256(pubkey), pubkey },
        protocols: [protocol],
        name: 'devp2p-actors-bench',
        supervisor,
      })
      sessions.add(session)
      void session.closed.then(() => sessions.delete(session))
      session.dropped.catch(() => {})
      const dropped = session.dropped.then((o) => {
        throw new Error(`dropped before the welcome: ${o.reason}`)
      })
      await Promise.race([welcome, dropped])
      dropped.catch(() => {})
      return {
        async close() {
          session.connection.socket.destroy()
          await session.closed
        },
      }
    },
    async close() {
      for (const s of sessions) s.connection.socket.destroy()
      await Promise.all([...sessions].map((s) => s.closed))
      supervisor.stop()
    },
  }
}

/**
 * RLPx + Hello only, no peer machine: the ECIES handshake, Hello both ways, then wait for the listener's first
 * `bench/1` message — a light load generator, as geth's p2p.Server anchor was measured with dialers from its
 * rlpx package. On a 2-core machine the dialers' CPU is taken from the listener, so the lighter the dialer the
 * closer the rate comes to what the listener alone can serve.
 */
function rlpxDialer(): Dialer {
  const privateKey = generatePrivateKey()
  const hello = encodeHello({
    version: BASE_PROTOCOL_VERSION,
    name: 'devp2p-actors-bench',
    caps: [{ name: BENCH_CAP.name, version: BENCH_CAP.version }],
    listenPort: 0,
    id: publicKeyOf(privateKey),
  })
  const welcomeCode = BASE_PROTOCOL_LENGTH + BENCH_MSG.data
  const conns = new Set<RlpxConnection>()
  return {
    async dial(pubkey, port) {
      const socket = tcpConnect(port, '127.0.0.1')
      const conn = new RlpxConnection(socket, { privateKey, remotePubkey: pubkey })
      conns.add(conn)
      void conn.closed.then(() => conns.delete(conn))
      try {
        await conn.encHandshake()
        const welcome = new Promise<void>((resolve, reject) => {
          const sub = conn.messages$.subscribe({
            next: (m) => {
              if (m.code === P2P_MSG.hello)
                conn.setSnappy(decodeHello(m.payload).version >= SNAPPY_PROTOCOL_VERSION)
              else if (m.code === welcomeCode) {
                sub.unsubscribe()
                resolve()
              } else if (m.code === P2P_MSG.disconnect) reject(new Error('disconnected before the welcome'))
            },
            error: reject,
            complete: () => reject(new Error('closed before the welcome')),
          })
        })
        await conn.send(P2P_MSG.hello, hello)
        await welcome
      } catch (e) {
        conn.close()
        throw e
      }
      return {
        async close() {
          socket.destroy()
          await conn.closed
        },
      }
    },
    async close() {
      for (const c of conns) c.close()
      await Promise.all([...conns].map((c) => c.closed))
    },
  }
}

async function ethjsDialer(): Promise<Dialer> {
  const node: EthjsNode = await startEthjsNode({
    caps: [BENCH_CAP],
    listen: false,
    maxPeers: 8,
    clientId: 'ethjs-bench',
    keepPeers: false,
  })
  return {
    async dial(pubkey, port) {
      const peer = await node.dial(pubkey, port, 30_000)
      await rawProtocol(peer, BENCH_CAP.name).wait(BENCH_MSG.data, 30_000)
      const socket = peerSocket(peer)
      return {
        close: () =>
          socket.closed
            ? Promise.resolve()
            : new Promise<void>((resolve) => {
                socket.once('close', () => resolve())
                socket.destroy()
              }),
      }
    },
    close: () => node.close(),
  }
}

const newDialer = (kind: string | undefined) =>
  kind === 'ethjs' ? ethjsDialer() : Promise.resolve(kind === 'rlpx' ? rlpxDialer() : oursDialer())

/**
 * CPU time of the main thread alone (ms; Linux /proc schedstat, else NaN): the event loop's own time, without
 * V8's helper threads (concurrent marking, parallel scavenging, compilation) that run beside it on other cores.
 */
function mainThreadCpuMs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6
  } catch {
    return Number.NaN
  }
}

// ---- commands ----

const listeners: Listening[] = []
const dialers: Dialer[] = []
const held: Conn[] = []

async function connects(c: Cmd) {
  const lanes = c.lanes ?? 1
  const pool: Dialer[] = []
  for (let i = 0; i < lanes * IDS_PER_LANE; i++) pool.push(await newDialer(c.kind))
  dialers.push(...pool)
  const target = Buffer.from(c.pubkey ?? '', 'hex')
  const latencies: number[] = []
  let failed = 0
  const one = async (d: Dialer) => {
    const t = performance.now()
    try {
      const conn = await d.dial(target, c.port ?? 0)
      latencies.push(performance.now() - t)
      await conn.close()
    } catch {
      failed++
    }
  }
  // warm-up: JIT, first-use crypto tables
  for (let i = 0; i < 8; i++) await one(pool[i % pool.length]!)
  latencies.length = 0
  failed = 0
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  const end = start + (c.ms ?? 2000)
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      let turn = 0
      while (performance.now() < end) await one(pool[lane * IDS_PER_LANE + (turn++ % IDS_PER_LANE)]!)
    }),
  )
  const elapsedMs = performance.now() - start
  const cpu = process.cpuUsage(cpu0)
  return { count: latencies.length, failed, elapsedMs, latencies, cpuMs: (cpu.user + cpu.system) / 1000 }
}

async function hold(c: Cmd) {
  const n = c.n ?? 500
  const lanes = c.lanes ?? 8
  const target = Buffer.from(c.pubkey ?? '', 'hex')
  const pool: Dialer[] = []
  for (let i = 0; i < n; i++) pool.push(await newDialer(c.kind))
  dialers.push(...pool)
  let next = 0
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < n) held.push(await pool[next++]!.dial(target, c.port ?? 0))
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
    peers: listeners.reduce((s, l) => s + l.live(), 0),
  }
}

async function handle(c: Cmd): Promise<unknown> {
  switch (c.cmd) {
    case 'listen': {
      const maxPeers = c.maxPeers ?? 2000
      const l =
        c.kind === 'ethjs'
          ? await listenEthjs(maxPeers)
          : c.kind === 'bare' || c.kind === 'bare-listener'
            ? await listenBare(c.kind === 'bare-listener')
            : await listenServer(maxPeers)
      listeners.push(l)
      return { port: l.port, pubkey: Buffer.from(l.pubkey).toString('hex') }
    }
    case 'connects':
      return connects(c)
    case 'hold':
      return hold(c)
    case 'release': {
      const n = held.length
      await Promise.all(held.splice(0).map((h) => h.close()))
      return { released: n }
    }
    case 'memory':
      return memory()
    case 'cpu': {
      const u = process.cpuUsage()
      return { cpuMs: (u.user + u.system) / 1000, mainMs: mainThreadCpuMs(), supervisorMs }
    }
    case 'clock':
      clockOn = c.on === true
      return { on: clockOn }
    case 'exit': {
      await Promise.all(held.splice(0).map((h) => h.close()))
      await Promise.all(dialers.map((d) => d.close()))
      await Promise.all(listeners.map((l) => l.close()))
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
process.send?.({ ok: true, result: { ready: true } })
