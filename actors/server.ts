// The public p2p server (geth p2p/server.go Server with its Config): a handle over the supervisor actor
// (machines/server.machine.ts) wired to real sockets — the TCP listener (actors/listener.ts), dial machines
// connecting over TCP (actors/dialer.ts), peer machines over RLPx connections (actors/rlpx-connection.ts),
// discovery v4 (actors/discovery/service.ts) feeding dynamic dial candidates (with `dialCandidates`, e.g. EIP-1459
// lists), inbound peer machines beside the supervisor (machines/inbound-peers.ts), the local node record, NAT,
// and prom-client metrics (actors/metrics.ts). DESIGN.md §1, §3a: the handle sends events and exposes observables;
// machine context is never handed out.
//
// API
//   const srv = createServer({ privateKey, listenAddr: '127.0.0.1:0', protocols: [...], ... }); await srv.start()
//   srv.self() / nodeInfo() / peersInfo() / peers() / peerCount()
//   srv.addPeer(enode | Node) / removePeer(…) → Promise (resolves once that peer dropped) / addTrustedPeer /
//   removeTrustedPeer; srv.events$ (geth PeerEvent JSON), srv.snapshot$ (supervisor snapshots, current first),
//   srv.metrics (the Registry given), srv.stats() (peers, connections, listener slots), srv.discovery (the discv4 service while running, else undefined)
//   await srv.stop()   DiscQuitting to every peer; resolves when every peer dropped and every socket, timer
//                      and DB is closed. A server is not restartable (as geth's).
// Deviations from geth, both on purpose: simultaneous dials are tie-broken (machines/tie-break.ts), and the
// listener parks accepted sockets while its slots are full instead of blocking accept (actors/listener.ts).
// Defaults are geth's (maxPeers 50, maxPendingPeers 50, dialRatio 3); discovery runs unless noDiscovery, on UDP at
// the TCP listen address and port unless discAddr is given; no protocols unless given (geth).

import { lookup } from 'node:dns/promises'
import type { Socket } from 'node:net'
import { Observable, Subject, type Subscription, tap } from 'rxjs'
import { type Actor, type AnyActorRef, createActor, waitFor } from 'xstate'
import { bytesToHex } from '../codecs/bytes.ts'
import { formatEnode, parseNode } from '../codecs/enode.ts'
import type { Node } from '../codecs/node.ts'
import { BASE_PROTOCOL_VERSION, type Hello } from '../codecs/p2p.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { publicKeyOf } from '../crypto/secp256k1.ts'
import { leanActorSystem } from '../machines/actor-system.ts'
import { dialMachine } from '../machines/dial.machine.ts'
import { InboundPeers } from '../machines/inbound-peers.ts'
import { type PeerContext, type PeerSnapshot, peerMachine } from '../machines/peer.machine.ts'
import { createPeerHandle } from '../machines/peer-actors.ts'
import type { MsgReadWriter, PeerHandle, Protocol } from '../machines/protocol.ts'
import { type PeerSpawnInput, serverMachine } from '../machines/server.machine.ts'
import { createCandidateLogic, createConnectLogic, createResolveLogic, filterByRecord } from './dialer.ts'
import type { LocalNode } from './discovery/local-node.ts'
import { isUnspecified } from './discovery/netutil.ts'
import type { Discv4 } from './discovery/service.ts'
import { type Listener, listen } from './listener.ts'
import {
  causeOfReason,
  createServerMetrics,
  registerDiscoveryMetrics,
  type ServerMetrics,
} from './metrics.ts'
import { DEFAULT_CLIENT_NAME } from './peer.ts'
import { RlpxConnection } from './rlpx-connection.ts'
import {
  buildNodeInfo,
  buildPeerInfo,
  dropErrorText,
  endpoint,
  formatHostPort,
  makeNetRestrict,
  type NodeInfo,
  type PeerEvent,
  type PeerInfo,
  parseListenAddr,
  type Server,
  type ServerConfig,
  type ServerLogger,
  type ServerPeer,
  type ServerSnapshot,
  serverDefaults,
  sortCaps,
} from './server-info.ts'
import { type ServerNetwork, setupNetwork } from './server-net.ts'
import { unmapAddress } from './udp.ts'

export type {
  NodeInfo,
  PeerEvent,
  PeerInfo,
  Server,
  ServerConfig,
  ServerLogger,
  ServerPeer,
  ServerSnapshot,
  ServerStats,
} from './server-info.ts'
export { serverDefaults } from './server-info.ts'

type Endpoint = ReturnType<typeof endpoint>

/**
 * What the server remembers of each connection it created. The endpoints (a getsockname call and two strings)
 * are read when the peer is added (`capture()`: its events and peersInfo need them, also once the remote closed
 * the socket) or when first asked for — never for the connections that fail their handshakes. An inbound
 * connection on a listener bound to one address has that address as its local end: no getsockname then.
 */
class ConnMeta {
  added = false
  private r: Endpoint | undefined
  constructor(
    private readonly socket: Socket,
    readonly inbound: boolean,
    /** the dialled node (outbound) */
    readonly dest: Node | undefined,
    public release: (() => void) | undefined,
    private l: Endpoint | undefined,
  ) {}
  private get localEnd(): Endpoint {
    this.l ??= endpoint(this.socket, 'local')
    return this.l
  }
  private get remoteEnd(): Endpoint {
    this.r ??= endpoint(this.socket, 'remote')
    return this.r
  }
  get local(): string {
    return this.localEnd.text
  }
  get remote(): string {
    return this.remoteEnd.text
  }
  get remoteIp(): string | undefined {
    return this.remoteEnd.ip
  }
  get remotePort(): number | undefined {
    return this.remoteEnd.port
  }
  /** read both endpoints now, while the socket is open (a closed socket no longer tells its local address) */
  capture(): void {
    void this.localEnd
    void this.remoteEnd
  }
}

interface PeerRecord {
  childId: string
  /** geth staticDialedConn: dialled while in the static set */
  staticDial: boolean
  conn: RlpxConnection
  meta: ConnMeta
  handle?: ServerPeer
}

const noopLogger: ServerLogger = {
  info() {},
  debug() {},
  warn() {},
  error() {},
  trace() {},
} as unknown as ServerLogger

const toNode = (n: Node | string): Node => (typeof n === 'string' ? parseNode(n) : n)
const idHex = (n: Node | string): string => bytesToHex(toNode(n).id)

export function createServer(config: ServerConfig): Server {
  const log = config.logger ?? noopLogger
  // per-connection log records are built only when there is a logger to take them
  const logging = config.logger !== undefined
  const privateKey = config.privateKey
  const pubkey = publicKeyOf(privateKey)
  const selfId = keccak256(pubkey)
  const selfHex = bytesToHex(selfId)
  const maxPeers = config.maxPeers ?? serverDefaults.maxPeers
  const maxPendingPeers = config.maxPendingPeers ?? serverDefaults.maxPendingPeers
  const dialRatio = config.dialRatio ?? serverDefaults.dialRatio
  const name = config.name ?? DEFAULT_CLIENT_NAME
  const netRestrict = makeNetRestrict(config.netRestrict)
  const listenAddr = config.listenAddr ?? serverDefaults.listenAddr
  const metrics: ServerMetrics | undefined = config.metrics ? createServerMetrics(config.metrics) : undefined
  if (config.metrics && !config.noDiscovery) registerDiscoveryMetrics(config.metrics, () => discovery)
  const timeouts = config.peerTimeouts ?? {}

  const events = new Subject<PeerEvent>()
  // supervisor snapshots go out only while someone subscribes; a new subscriber first gets the current one
  // (ReplaySubject(1) semantics without buffering every snapshot of every connection)
  const snapshots = new Subject<ServerSnapshot>()
  const snapshot$ = new Observable<ServerSnapshot>((sub) => {
    const current = supervisor?.getSnapshot()
    if (current !== undefined) sub.next(current)
    return snapshots.subscribe(sub)
  })
  const connMeta = new WeakMap<RlpxConnection, ConnMeta>()
  const live = new Set<RlpxConnection>()
  const records = new Map<string, PeerRecord>()
  const dropWaiters = new Map<string, Set<() => void>>()

  let phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new'
  let stopping: Promise<void> | undefined
  let supervisor: Actor<typeof serverMachine> | undefined
  /** inbound peer machines, created beside the supervisor (machines/inbound-peers.ts) */
  let inbound: InboundPeers | undefined
  let listener: Listener | undefined
  let discovery: Discv4 | undefined
  let localNode: LocalNode | undefined
  let net: ServerNetwork | undefined
  let boundListenAddr = ''

  // ---- protocols (msg events wrap each protocol's rw, geth msgEventer) ----

  const emitMsg = (
    type: 'msgsend' | 'msgrecv',
    protocol: string,
    peer: PeerHandle,
    code: number,
    size: number,
  ) => {
    const id = bytesToHex(peer.id)
    const meta = records.get(id)?.meta
    events.next({
      type,
      peer: id,
      protocol,
      msg_code: code,
      msg_size: size,
      ...(meta ? { local: meta.local, remote: meta.remote } : {}),
    })
  }
  const userProtocols = config.protocols ?? []
  const runProtocols: Protocol[] = config.enableMsgEvents
    ? userProtocols.map((p) => {
        const w = Object.create(p) as Protocol
        w.run = (peer: PeerHandle, rw: MsgReadWriter) =>
          p.run(peer, {
            messages$: rw.messages$.pipe(tap((m) => emitMsg('msgrecv', p.name, peer, m.code, m.size))),
            send: (code, payload) =>
              rw.send(code, payload).then(() => emitMsg('msgsend', p.name, peer, code, payload.length)),
          })
        return w
      })
    : [...userProtocols]
  const localHello: Hello = {
    version: BASE_PROTOCOL_VERSION,
    name,
    caps: sortCaps(userProtocols.map((p) => ({ name: p.name, version: p.version }))),
    listenPort: 0,
    id: pubkey,
  }

  // ---- connections ----

  const connOptions = {
    privateKey,
    ...(timeouts.handshake !== undefined && { handshakeTimeout: timeouts.handshake }),
    ...(timeouts.read !== undefined && { readTimeout: timeouts.read }),
    ...(timeouts.write !== undefined && { writeTimeout: timeouts.write }),
    ...(timeouts.disconnect !== undefined && { disconnectTimeout: timeouts.disconnect }),
  }

  /** the local end of every inbound connection when the listener is bound to one address (not 0.0.0.0 / ::) */
  let inboundLocal: Endpoint | undefined

  const openConn = (socket: Socket, dest: Node | undefined, release?: () => void): RlpxConnection => {
    const conn = new RlpxConnection(
      socket,
      dest ? { ...connOptions, remotePubkey: dest.pubkey } : connOptions,
    )
    const meta = new ConnMeta(socket, dest === undefined, dest, release, dest ? undefined : inboundLocal)
    connMeta.set(conn, meta)
    live.add(conn)
    metrics?.trackSocket(socket)
    void conn.closed.then(() => {
      live.delete(conn)
      meta.release?.()
    })
    return conn
  }

  /** Every peer ending (the peer machine's closeConnection): geth markDialError / markServeError. */
  const onPeerClosing = (ctx: PeerContext) => {
    const meta = connMeta.get(ctx.transport as RlpxConnection)
    if (!meta || meta.added) return
    meta.release?.()
    const cause =
      causeOfReason(ctx.reason ?? -1) ??
      (ctx.remoteId === undefined ? 'rlpx_enc' : ctx.hello === undefined ? 'rlpx_proto' : 'other')
    metrics?.handshakeError(meta.inbound, cause)
  }

  const origClose = peerMachine.implementations.actions.closeConnection as unknown as (
    ...args: unknown[]
  ) => void
  const peerDelays: Record<string, number> = {}
  if (timeouts.handshake !== undefined) peerDelays.handshakeTimeout = timeouts.handshake
  if (timeouts.hello !== undefined) peerDelays.helloTimeout = timeouts.hello
  if (timeouts.ping !== undefined) peerDelays.pingInterval = timeouts.ping
  const peerLogic = peerMachine.provide({
    actions: {
      closeConnection: (...args: unknown[]) => {
        origClose(...args)
        onPeerClosing((args[0] as { context: PeerContext }).context)
      },
    },
    delays: peerDelays,
  })

  const makePeerInput = (s: PeerSpawnInput) => {
    const conn = s.conn as RlpxConnection
    return {
      transport: conn,
      inbound: s.inbound,
      dialDest: s.dialDest ? { id: s.dialDest.id, pubkey: s.dialDest.pubkey } : undefined,
      localHello,
      protocols: runProtocols,
      supervisor: s.supervisor,
    }
  }

  // ---- supervisor events ----

  const childRef = (childId: string): AnyActorRef | undefined =>
    inbound?.get(childId) ??
    (supervisor?.getSnapshot().children as Record<string, AnyActorRef | undefined> | undefined)?.[childId]

  const onPeerAdded = (e: { id: string; childId: string; inbound: boolean; name: string }) => {
    const ref = childRef(e.childId)
    const conn = (ref?.getSnapshot().context as PeerContext | undefined)?.transport as
      | RlpxConnection
      | undefined
    const meta = conn ? connMeta.get(conn) : undefined
    if (!conn || !meta) return
    meta.added = true
    // an added peer's endpoints go into its events and peersInfo, also after the remote closed the socket
    meta.capture()
    meta.release?.()
    const statics = supervisor?.getSnapshot().context.dial.statics
    records.set(e.id, {
      childId: e.childId,
      conn,
      meta,
      staticDial: !meta.inbound && statics?.has(e.id) === true,
    })
    metrics?.peerAdded(e.inbound)
    if (logging)
      log.debug({ id: e.id, inbound: e.inbound, name: e.name, addr: meta.remote }, 'Adding p2p peer')
    if (events.observed) events.next({ type: 'add', peer: e.id, local: meta.local, remote: meta.remote })
  }

  const onPeerDropped = (e: { id: string; inbound: boolean } & Parameters<typeof dropErrorText>[0]) => {
    const rec = records.get(e.id)
    records.delete(e.id)
    metrics?.peerDropped(e.inbound)
    if (logging || events.observed) {
      const error = dropErrorText(e)
      if (logging) log.debug({ id: e.id, req: e.requestedByRemote, err: error }, 'Removing p2p peer')
      if (events.observed)
        events.next({
          type: 'drop',
          peer: e.id,
          error,
          ...(rec ? { local: rec.meta.local, remote: rec.meta.remote } : {}),
        })
    }
    const waiters = dropWaiters.get(e.id)
    dropWaiters.delete(e.id)
    for (const w of waiters ?? []) w()
  }

  // ---- the supervisor ----

  const buildSupervisor = (staticNodes: Node[]) => {
    const disc = discovery
    const sources: Observable<Node>[] = []
    for (const p of userProtocols) {
      const dc = (p as Protocol & { dialCandidates?: Observable<Node> }).dialCandidates
      if (dc) sources.push(dc)
    }
    // geth: the eth protocol's discovery source asks each node for its ENR and keeps those its filter accepts
    const filters = userProtocols.flatMap((p) => (p.nodeFilter ? [p.nodeFilter] : []))
    if (sources.length === 0 && disc)
      sources.push(
        filters.length === 0
          ? disc.randomNodes()
          : filterByRecord(
              disc.randomNodes(),
              (n) => disc.requestENR(n),
              (n) => filters.some((f) => f(n)),
            ),
      )
    sources.push(...(config.dialCandidates ?? []))
    const adoptedConns = new WeakSet<RlpxConnection>()
    const dialLogic = dialMachine.provide({
      actors: {
        connect: createConnectLogic<unknown>({
          open: (socket, node) => openConn(socket, node),
          adopted: (conn) => adoptedConns.has(conn as RlpxConnection),
          close: (conn) => (conn as RlpxConnection).close(),
          onAttempt: () => metrics?.dialed(),
          onFailure: (node, e) => {
            metrics?.dialConnectionError()
            log.trace({ id: bytesToHex(node.id), err: String(e) }, 'Dial error')
          },
        }),
        resolve: createResolveLogic(disc ? (n) => disc.resolve(n) : undefined),
      },
    })
    const machine = serverMachine.provide({
      actors: {
        peer: peerLogic,
        dial: dialLogic,
        candidates: createCandidateLogic(sources),
      },
    })
    const actor = createActor(machine, {
      input: {
        self: selfHex,
        maxPeers,
        maxPendingPeers,
        dialRatio,
        noDial: config.noDial,
        protocols: localHello.caps,
        staticNodes,
        trustedNodes: (config.trustedNodes ?? []).map(idHex),
        netRestrict,
        canResolve: disc !== undefined,
        makePeerInput: (s: PeerSpawnInput) => {
          // the dial task asks whether its connection went to a peer (inbound ones never reach a dial task)
          if (!s.inbound) adoptedConns.add(s.conn as RlpxConnection)
          return makePeerInput(s)
        },
      },
      ...(config.inspect ? { inspect: config.inspect } : {}),
    })
    // every peer, handshake, protocol and dial actor joins this long-lived system (machines/actor-system.ts)
    leanActorSystem(actor)
    actor.on('peer.added', onPeerAdded)
    actor.on('peer.dropped', onPeerDropped)
    if (logging) {
      actor.on('dial.started', (e) => {
        log.trace({ id: e.task.id, flag: e.task.flag }, 'Starting p2p dial')
      })
      actor.on('conn.rejected', (e) =>
        log.trace({ id: e.id, stage: e.stage, reason: e.reason, inbound: e.inbound }, 'Rejected peer'),
      )
    }
    actor.on('conn.refused', (e) => (e.conn as RlpxConnection).close())
    actor.subscribe({
      next: (s) => {
        if (snapshots.observed) snapshots.next(s)
      },
      error: (err) => log.error({ err: String(err) }, 'P2P supervisor failed'),
    })
    return actor
  }

  // ---- lifecycle ----

  const resolveHost = async (n: Node): Promise<Node> => {
    if (n.ip || !n.hostname) return n
    const { address } = await lookup(n.hostname)
    return { ...n, ip: address }
  }

  // later values of the protocols' ENR entries (geth's ENR updaters, e.g. eth's fork id as the head passes a fork)
  let attributeSubs: Subscription[] = []
  const closeAll = async () => {
    for (const sub of attributeSubs) sub.unsubscribe()
    attributeSubs = []
    await net?.discovery?.stop().catch(() => {})
    for (const c of live) c.close()
    await Promise.all([...live].map((c) => c.closed))
    await listener?.close()
    await net?.close()
  }

  let starting: Promise<void> | undefined
  let stopRequested = false
  const interrupted = () => {
    if (stopRequested) throw new Error('server stopped while starting')
  }
  const start = (): Promise<void> => {
    if (phase !== 'new') return Promise.reject(new Error(`server already ${phase}`))
    phase = 'starting'
    starting = doStart()
    return starting
  }
  const doStart = async () => {
    try {
      let host = '127.0.0.1'
      let tcpPort = 0
      if (listenAddr !== '') {
        const la = parseListenAddr(listenAddr)
        host = la.host
        listener = await listen({
          host: la.host,
          port: la.port,
          maxPendingPeers,
          netRestrict,
          isLan: config.isLan,
          throttleMs: config.inboundThrottleMs,
          onConnection: (socket, release) => {
            if (phase !== 'running' || !inbound) {
              socket.destroy()
              release()
              return
            }
            metrics?.served()
            const conn = openConn(socket, undefined, release)
            if (!inbound.start(conn)) conn.close()
          },
          onRejected: (remote, reason) =>
            log.debug({ addr: remote.address, reason }, 'Rejected inbound connection'),
        })
        interrupted()
        const a = listener.address()
        tcpPort = a.port
        boundListenAddr = formatHostPort(a.address, a.port)
        const ip = unmapAddress(a.address)
        if (!isUnspecified(ip)) inboundLocal = { ip, port: a.port, text: formatHostPort(ip, a.port) }
      }
      net = await setupNetwork({
        privateKey,
        host,
        tcpPort,
        noDiscovery: config.noDiscovery,
        discAddr: config.discAddr ? parseListenAddr(config.discAddr) : undefined,
        nat: config.nat,
        nodeDatabase: config.nodeDatabase,
        bootnodes: config.bootstrapNodes,
        netRestrict,
        attributes: Object.assign({}, ...userProtocols.map((p) => p.attributes ?? {})),
        discovery: config.discovery,
        log: { debug: (m) => log.debug(m), info: (m) => log.info(m), warn: (m) => log.warn(m) },
      })
      discovery = net.discovery
      localNode = net.localNode
      const ln = localNode
      attributeSubs = userProtocols.flatMap((p) =>
        p.attributes$ ? [p.attributes$.subscribe((a) => ln.setAttributes(a))] : [],
      )
      interrupted()
      const statics = await Promise.all((config.staticNodes ?? []).map((n) => resolveHost(toNode(n))))
      interrupted()
      supervisor = buildSupervisor(statics)
      inbound = new InboundPeers(supervisor)
      supervisor.start()
      for (const e of early.splice(0)) supervisor.send(e)
      phase = 'running'
      supervisor.send({ type: 'start' })
      const s = await waitFor(supervisor, (x) => x.matches('running') || x.status !== 'active')
      if (!s.matches('running'))
        throw new Error(`p2p supervisor did not start: ${s.context.error ?? s.status}`)
      log.info({ self: formatEnode(localNode.node()) }, 'Started P2P networking')
    } catch (e) {
      phase = 'stopped'
      supervisor?.stop()
      await closeAll()
      events.complete()
      snapshots.complete()
      throw e
    }
  }

  const stop = (): Promise<void> => {
    if (stopping) return stopping
    stopRequested = true
    stopping = (async () => {
      if (phase === 'starting') await starting?.catch(() => {})
      if (phase === 'stopped') return
      if (phase === 'new') {
        phase = 'stopped'
        events.complete()
        snapshots.complete()
        return
      }
      phase = 'stopping'
      const sup = supervisor
      if (sup && sup.getSnapshot().status === 'active') {
        // geth: discovery is terminated first, then every peer is told DiscQuitting and awaited
        const discStopped = discovery?.stop().catch(() => {})
        sup.send({ type: 'stop' })
        await waitFor(sup, (x) => x.status !== 'active', { timeout: Number.POSITIVE_INFINITY }).catch(
          () => {},
        )
        await discStopped
      }
      sup?.stop()
      await closeAll()
      for (const ws of dropWaiters.values()) for (const w of ws) w()
      dropWaiters.clear()
      phase = 'stopped'
      log.info('Stopped P2P networking')
      events.complete()
      snapshots.complete()
    })()
    return stopping
  }

  // ---- queries ----

  const peerContext = (rec: PeerRecord): PeerContext | undefined =>
    childRef(rec.childId)?.getSnapshot().context as PeerContext | undefined

  const handleOf = (rec: PeerRecord): ServerPeer | undefined => {
    if (rec.handle) return rec.handle
    const ref = childRef(rec.childId)
    const ctx = peerContext(rec)
    if (!ref || !ctx?.remoteId || !ctx.remotePubkey || !ctx.hello) return undefined
    rec.handle = createPeerHandle<PeerSnapshot>(ref, {
      id: ctx.remoteId,
      pubkey: ctx.remotePubkey,
      hello: ctx.hello,
      inbound: rec.meta.inbound,
    })
    return rec.handle
  }

  const peerIds = (): string[] => {
    const s = supervisor?.getSnapshot()
    return s ? [...s.context.peers.keys()] : []
  }

  const self = (): Node => localNode?.node() ?? { id: selfId, pubkey, ip: '0.0.0.0', tcp: 0, udp: 0 }

  const nodeInfo = (): NodeInfo =>
    buildNodeInfo({
      node: self(),
      record: localNode?.record(),
      name,
      listenAddr: boundListenAddr || listenAddr,
      protocols: userProtocols,
    })

  const peersInfo = (): PeerInfo[] => {
    const sup = supervisor?.getSnapshot()
    if (!sup) return []
    const out: PeerInfo[] = []
    for (const [id, entry] of sup.context.peers) {
      const rec = records.get(id)
      const ctx = rec ? peerContext(rec) : undefined
      if (!rec || !ctx?.hello || !ctx.remotePubkey) continue
      const meta = rec.meta
      out.push(
        buildPeerInfo({
          id,
          hello: ctx.hello,
          matched: ctx.matched,
          node: meta.dest ?? {
            id: ctx.remoteId!,
            pubkey: ctx.remotePubkey,
            ip: meta.remoteIp,
            tcp: meta.remotePort,
            udp: meta.remotePort,
          },
          local: meta.local,
          remote: meta.remote,
          inbound: entry.inbound,
          trusted: entry.trusted,
          static: entry.dialed && rec.staticDial,
        }),
      )
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  // ---- handle ----

  type SupervisorEvent = Parameters<Actor<typeof serverMachine>['send']>[0]
  /** set changes before start() are replayed into the supervisor before it starts running */
  const early: SupervisorEvent[] = []
  const send = (event: SupervisorEvent) => {
    if (supervisor && supervisor.getSnapshot().status === 'active') supervisor.send(event)
    else if (phase === 'new' || phase === 'starting') early.push(event)
  }

  return {
    start,
    stop,
    addPeer(n) {
      resolveHost(toNode(n)).then(
        (node) => send({ type: 'peer.add', node }),
        (e) => log.warn({ err: String(e) }, 'Cannot resolve static node'),
      )
    },
    removePeer(n) {
      const id = idHex(n)
      const connected = supervisor?.getSnapshot().context.peers.has(id) === true
      const dropped = connected
        ? new Promise<void>((resolve) => {
            const set = dropWaiters.get(id) ?? new Set()
            dropWaiters.set(id, set)
            set.add(resolve)
          })
        : Promise.resolve()
      send({ type: 'peer.remove', id })
      return dropped
    },
    addTrustedPeer: (n) => send({ type: 'trusted.add', id: idHex(n) }),
    removeTrustedPeer: (n) => send({ type: 'trusted.remove', id: idHex(n) }),
    peers() {
      const out: ServerPeer[] = []
      for (const id of peerIds()) {
        const rec = records.get(id)
        const h = rec ? handleOf(rec) : undefined
        if (h) out.push(h)
      }
      return out
    },
    peerCount: () => supervisor?.getSnapshot().context.peers.size ?? 0,
    stats: () => ({
      peers: supervisor?.getSnapshot().context.peers.size ?? 0,
      connections: live.size,
      inboundPending: listener?.pending() ?? 0,
      inboundWaiting: listener?.waiting() ?? 0,
    }),
    self,
    nodeInfo,
    peersInfo,
    events$: events.asObservable(),
    snapshot$,
    metrics: config.metrics,
    get discovery() {
      return phase === 'running' ? discovery : undefined
    },
  }
}
