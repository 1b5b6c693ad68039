// Shared helpers for the socket tests (tests/integration, tests/interop, bench): a listening socket on
// 127.0.0.1, a pair of our peers connected over loopback, echo protocols, and a leak checker built on
// process.getActiveResourcesInfo() (sockets, servers, timers).
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { firstValueFrom, take, toArray } from 'rxjs'
import { type PeerSession, type StartPeerOptions, startPeer } from '../../actors/peer.ts'
import { RlpxConnection, type RlpxConnectionOptions } from '../../actors/rlpx-connection.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'
import type { Msg, MsgReadWriter, PeerHandle, Protocol } from '../../machines/protocol.ts'

export interface Listener {
  server: Server
  port: number
  /** the next accepted socket */
  accept(): Promise<Socket>
  close(): Promise<void>
}

/** A TCP listener on 127.0.0.1 with an ephemeral port; sockets are handed out in accept order. */
export async function listen(): Promise<Listener> {
  const waiting: ((s: Socket) => void)[] = []
  const ready: Socket[] = []
  const server = createServer((s) => {
    const w = waiting.shift()
    if (w) w(s)
    else ready.push(s)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  return {
    server,
    port,
    accept: () => {
      const s = ready.shift()
      return s ? Promise.resolve(s) : new Promise<Socket>((r) => waiting.push(r))
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

/** Dial 127.0.0.1:port (the socket may still be connecting; writes are buffered until connected). */
export function dial(port: number): Socket {
  return connect({ host: '127.0.0.1', port })
}

export interface Keys {
  priv: Uint8Array
  pub: Uint8Array
  id: Uint8Array
}

export function newKeys(): Keys {
  const priv = generatePrivateKey()
  const pub = publicKeyOf(priv)
  return { priv, pub, id: keccak256(pub) }
}

export type PeerOptions = Omit<StartPeerOptions, 'socket' | 'privateKey' | 'dialDest'>

export interface Pair {
  /** the dialling side (initiator) */
  a: PeerSession
  /** the accepting side (recipient) */
  b: PeerSession
  ka: Keys
  kb: Keys
  /** disconnect both (if still up), wait for both sockets to close, close the listener */
  close(): Promise<void>
}

/** Two of our peers on 127.0.0.1: `a` dials `b`. Resolves at once (await a.ready / b.ready for running). */
export async function connectPair(opts: { a?: PeerOptions; b?: PeerOptions } = {}): Promise<Pair> {
  const ka = newKeys()
  const kb = newKeys()
  const l = await listen()
  const socketA = dial(l.port)
  const socketB = await l.accept()
  const a = startPeer({
    ...opts.a,
    socket: socketA,
    privateKey: ka.priv,
    dialDest: { id: kb.id, pubkey: kb.pub },
  })
  const b = startPeer({ ...opts.b, socket: socketB, privateKey: kb.priv })
  return {
    a,
    b,
    ka,
    kb,
    close: async () => {
      a.disconnect(0x08)
      b.disconnect(0x08)
      await Promise.all([a.closed, b.closed])
      await l.close()
    },
  }
}

export type ConnOptions = Partial<Omit<RlpxConnectionOptions, 'privateKey' | 'remotePubkey'>>

export interface ConnectionPair {
  /** initiator */
  a: RlpxConnection
  /** recipient */
  b: RlpxConnection
  ka: Keys
  kb: Keys
  /** close both without Disconnect, wait for both sockets, close the listener */
  close(): Promise<void>
}

/** Two bare RlpxConnections on 127.0.0.1 with the ECIES handshake done (`a` dialled `b`). */
export async function connectionPair(
  opts: { a?: ConnOptions; b?: ConnOptions } = {},
): Promise<ConnectionPair> {
  const ka = newKeys()
  const kb = newKeys()
  const l = await listen()
  const sa = dial(l.port)
  const sb = await l.accept()
  const a = new RlpxConnection(sa, { ...opts.a, privateKey: ka.priv, remotePubkey: kb.pub })
  const b = new RlpxConnection(sb, { ...opts.b, privateKey: kb.priv })
  await Promise.all([a.encHandshake(), b.encHandshake()])
  return {
    a,
    b,
    ka,
    kb,
    close: async () => {
      a.close()
      b.close()
      await Promise.all([a.closed, b.closed])
      await l.close()
    },
  }
}

/** A protocol whose run() sends back every message it receives (same code) until the stream ends. */
export function echoProtocol(name: string, version: number, length: number, seen?: Msg[]): Protocol {
  return {
    name,
    version,
    length,
    run: (_peer: PeerHandle, rw: MsgReadWriter) =>
      new Promise<void>((resolve) => {
        rw.messages$.subscribe({
          next: (m) => {
            seen?.push(m)
            rw.send(m.code, m.payload).catch(() => {})
          },
          complete: () => resolve(),
          error: () => resolve(),
        })
      }),
  }
}

export interface ProtocolProbe {
  protocol: Protocol
  /** the rw handed to run(), once the peer runs */
  rw: Promise<MsgReadWriter>
}

/** A protocol that exposes its rw to the test and stays up until the stream ends. */
export function probeProtocol(name: string, version: number, length: number): ProtocolProbe {
  let give!: (rw: MsgReadWriter) => void
  const rw = new Promise<MsgReadWriter>((r) => {
    give = r
  })
  return {
    rw,
    protocol: {
      name,
      version,
      length,
      run: (_peer, r) =>
        new Promise<void>((resolve) => {
          give(r)
          r.messages$.subscribe({ complete: () => resolve(), error: () => resolve() })
        }),
    },
  }
}

/** The next n messages of a stream. */
export function nextMessages(rw: MsgReadWriter, n: number): Promise<Msg[]> {
  return firstValueFrom(rw.messages$.pipe(take(n), toArray()))
}

const TRACKED = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPWRAP', 'Timeout', 'PipeWrap'])

/** Counts of the tracked resource kinds (sockets, servers, timers) alive now. */
export function resourceCounts(): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) if (TRACKED.has(r)) out[r] = (out[r] ?? 0) + 1
  return out
}

const tick = () => new Promise<void>((r) => setImmediate(r))

/**
 * Wait (up to `ms`, polling with setImmediate so no timer of ours is counted) until no tracked resource kind
 * exceeds its count in `baseline`; throws with the difference otherwise.
 */
export async function assertNoLeaks(baseline: Record<string, number>, ms = 2000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    const now = resourceCounts()
    const extra = Object.entries(now).filter(([k, v]) => v > (baseline[k] ?? 0))
    if (extra.length === 0) return
    if (Date.now() > until)
      throw new Error(
        `leaked handles: ${extra.map(([k, v]) => `${k} ${v} > ${baseline[k] ?? 0}`).join(', ')}`,
      )
    await tick()
  }
}
