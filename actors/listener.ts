// The TCP accept loop of the p2p server (geth p2p/server.go setupListening / listenLoop / checkInboundConn):
// at most `maxPendingPeers` inbound connections are in their handshakes at once, connections from outside
// `netRestrict` are closed, and an Internet (non-LAN) address may connect once per 30 s (inboundThrottleTime).
//
// geth blocks its accept loop while all slots are taken, leaving further connections in the kernel backlog.
// node:net has no way to pause accepting, so the listener accepts, checks, and parks the socket paused (nothing
// read, nothing written — the remote sees what geth's backlog shows it) until a slot frees; at most `backlog`
// sockets wait (Node's default listen backlog, 511), beyond which new ones are closed at once.
//
// API
//   listen({ host, port, maxPendingPeers, netRestrict?, isLan?, now?, backlog?, onConnection, onRejected? })
//     → Promise<Listener>   bound (port 0: any free port) and accepting
//   onConnection(socket, release)   a socket owns a slot until `release()` (idempotent) — call it when the
//                                   connection's handshakes end (geth: SetupConn returned)
//   Listener.address() { address, port } · pending() slots in use · waiting() parked sockets
//   Listener.close()   stop accepting, destroy parked sockets; resolves once the server socket is closed and
//                      every accepted socket has ended (node:net Server.close semantics)
import { createServer, type Server, type Socket } from 'node:net'
import { isLan as netIsLan } from './discovery/netutil.ts'
import { unmapAddress } from './udp.ts'

/** geth p2p/server.go inboundThrottleTime. */
export const INBOUND_THROTTLE_MS = 30_000
/** geth defaultMaxPendingPeers. */
export const DEFAULT_MAX_PENDING_PEERS = 50
/** Node's default listen backlog: how many accepted sockets may wait for a slot. */
export const DEFAULT_ACCEPT_BACKLOG = 511

export type InboundRejection = 'netrestrict' | 'throttled' | 'backlog-full'

export interface ListenerOptions {
  /** IP to bind, e.g. '127.0.0.1' or '0.0.0.0' */
  host: string
  /** TCP port; 0 = any free port */
  port: number
  maxPendingPeers?: number
  netRestrict?: { contains(ip: string): boolean } | null
  /** geth netutil.AddrIsLAN; injectable so tests can treat 127.0.0.1 as an Internet address */
  isLan?: (ip: string) => boolean
  throttleMs?: number
  now?: () => number
  backlog?: number
  onConnection(socket: Socket, release: () => void): void
  onRejected?(remote: { address: string; port: number }, reason: InboundRejection): void
}

export interface Listener {
  address(): { address: string; port: number }
  pending(): number
  waiting(): number
  close(): Promise<void>
}

/**
 * geth's expHeap of recently seen inbound IPs, as a Map of expiry times. Entries are added in time order with
 * one fixed throttle, so the Map's insertion order is expiry order (a re-added IP moves to the end): expiring
 * drops entries from the front until the first one still valid — O(expired), not a scan of every entry. Should
 * the clock go backwards, the order breaks and expiring scans every entry until the history is empty again.
 */
class InboundHistory {
  private readonly seen = new Map<string, number>()
  private last = Number.NEGATIVE_INFINITY
  private ordered = true
  expire(now: number): void {
    for (const [ip, at] of this.seen) {
      if (at > now) {
        if (this.ordered) return
        continue
      }
      this.seen.delete(ip)
    }
    if (this.seen.size === 0) {
      this.ordered = true
      this.last = Number.NEGATIVE_INFINITY
    }
  }
  contains(ip: string): boolean {
    return this.seen.has(ip)
  }
  add(ip: string, expiry: number): void {
    if (expiry < this.last) this.ordered = false
    this.last = expiry
    this.seen.delete(ip)
    this.seen.set(ip, expiry)
  }
}

/** How many addresses' LAN verdicts are kept (the verdict of an address never changes). */
const LAN_CACHE_SIZE = 1024

export async function listen(opts: ListenerOptions): Promise<Listener> {
  const slots =
    opts.maxPendingPeers && opts.maxPendingPeers > 0 ? opts.maxPendingPeers : DEFAULT_MAX_PENDING_PEERS
  const backlog = opts.backlog ?? DEFAULT_ACCEPT_BACKLOG
  const isLanOf = opts.isLan ?? ((ip: string) => netIsLan(ip))
  // parsing an address per connection is measurable at hundreds of connections/s: keep recent verdicts
  const lanCache = new Map<string, boolean>()
  const isLan = (ip: string): boolean => {
    let lan = lanCache.get(ip)
    if (lan === undefined) {
      lan = isLanOf(ip)
      if (lanCache.size >= LAN_CACHE_SIZE) lanCache.clear()
      lanCache.set(ip, lan)
    }
    return lan
  }
  const throttle = opts.throttleMs ?? INBOUND_THROTTLE_MS
  const now = opts.now ?? Date.now
  const history = new InboundHistory()
  const parked: Socket[] = []
  let inUse = 0
  let closed = false

  /** geth checkInboundConn; null = admitted. */
  const check = (ip: string | undefined): InboundRejection | null => {
    if (ip === undefined) return null
    if (opts.netRestrict && !opts.netRestrict.contains(ip)) return 'netrestrict'
    const t = now()
    history.expire(t)
    if (!isLan(ip) && history.contains(ip)) return 'throttled'
    history.add(ip, t + throttle)
    return null
  }

  const dispatch = (socket: Socket) => {
    inUse++
    let released = false
    const release = () => {
      if (released) return
      released = true
      inUse--
      next()
    }
    socket.resume()
    try {
      opts.onConnection(socket, release)
    } catch {
      socket.destroy()
      release()
    }
  }

  const next = () => {
    while (inUse < slots && parked.length > 0) {
      const s = parked.shift()!
      const onClose = parkedClose.get(s)
      // the entry's value (a closure over the socket) references its key: deleted, or V8's scavenges keep it
      parkedClose.delete(s)
      if (onClose) s.removeListener('close', onClose)
      if (s.destroyed || closed) {
        s.destroy()
        continue
      }
      dispatch(s)
    }
  }

  const parkedClose = new WeakMap<Socket, () => void>()

  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    const address = socket.remoteAddress === undefined ? undefined : unmapAddress(socket.remoteAddress)
    const remote = { address: address ?? '', port: socket.remotePort ?? 0 }
    if (closed) {
      socket.destroy()
      return
    }
    const reason = check(address)
    if (reason !== null) {
      socket.destroy()
      opts.onRejected?.(remote, reason)
      return
    }
    if (inUse < slots) {
      dispatch(socket)
      return
    }
    if (parked.length >= backlog) {
      socket.destroy()
      opts.onRejected?.(remote, 'backlog-full')
      return
    }
    socket.on('error', noop)
    const onClose = () => {
      parkedClose.delete(socket)
      const i = parked.indexOf(socket)
      if (i >= 0) parked.splice(i, 1)
    }
    parkedClose.set(socket, onClose)
    socket.once('close', onClose)
    parked.push(socket)
  })
  server.on('error', noop)

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e)
    server.once('error', onError)
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.removeListener('error', onError)
      resolve()
    })
  })
  const bound = server.address() as { address: string; port: number }

  return {
    address: () => ({ address: unmapAddress(bound.address), port: bound.port }),
    pending: () => inUse,
    waiting: () => parked.length,
    close: () => {
      if (!closed) {
        closed = true
        for (const s of parked.splice(0)) s.destroy()
      }
      return new Promise<void>((resolve) => {
        if (!server.listening) resolve()
        else server.close(() => resolve())
      })
    },
  }
}

function noop(): void {}
