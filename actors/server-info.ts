// The server's public types (ServerConfig = geth p2p.Config camel-cased, the Server handle) and JSON shapes, after geth p2p/server.go NodeInfo (admin_nodeInfo), p2p/peer.go PeerInfo
// (admin_peers) and PeerEvent (Server.SubscribeEvents), their builders, and the server's small pure helpers:
// Go's net.Addr.String() for TCP endpoints, listen-address parsing, netrestrict from config, geth's cap order,
// and the error text of a drop event.
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Observable } from 'rxjs'
import type { InspectionEvent, Observer, SnapshotFrom } from 'xstate'
import { bytesToHex } from '../codecs/bytes.ts'
import { formatEnode } from '../codecs/enode.ts'
import { type Enr, enrToText } from '../codecs/enr.ts'
import type { Node } from '../codecs/node.ts'
import { type Capability, capString, DiscReason, discReasonString, type Hello } from '../codecs/p2p.ts'
import type { NetRestrict } from '../machines/dial-scheduler.ts'
import type { PeerOutput, PeerSnapshot } from '../machines/peer.machine.ts'
import type { PeerHandle, Protocol } from '../machines/protocol.ts'
import type { serverMachine } from '../machines/server.machine.ts'
import { Netlist } from './discovery/netutil.ts'
import type { Discv4, Discv4Config } from './discovery/service.ts'
import type { Nat } from './nat.ts'
import type { PeerTimeouts } from './peer.ts'
import { unmapAddress } from './udp.ts'

/** geth p2p.Config defaults. */
export const serverDefaults = {
  maxPeers: 50,
  maxPendingPeers: 50,
  dialRatio: 3,
  listenAddr: '127.0.0.1:0',
} as const

export type ServerLogger = Pick<Logger, 'info' | 'debug' | 'warn' | 'error' | 'trace'>

/** geth p2p.Config, camel-cased. Nodes are `Node`s or enode / enr text. */
export interface ServerConfig {
  privateKey: Uint8Array
  maxPeers?: number
  maxPendingPeers?: number
  dialRatio?: number
  noDiscovery?: boolean
  /** our client name in Hello and nodeInfo */
  name?: string
  bootstrapNodes?: Array<Node | string>
  staticNodes?: Array<Node | string>
  trustedNodes?: Array<Node | string>
  /** CIDR list ('10.0.0.0/8,127.0.0.0/8'), an array of CIDRs, or a Netlist-like matcher */
  netRestrict?: string | readonly string[] | NetRestrict | null
  /** node DB directory; in memory when absent or '' */
  nodeDatabase?: string
  protocols?: readonly Protocol[]
  /** 'host:port' (port 0: any); '' = do not listen (geth). Default '127.0.0.1:0' */
  listenAddr?: string
  /** UDP 'host:port' for discovery (default: the TCP listen host and bound port) */
  discAddr?: string
  /** geth --nat spec ('extip:1.2.3.4', 'upnp', 'pmp', 'any', 'none') or a Nat */
  nat?: string | Nat
  noDial?: boolean
  enableMsgEvents?: boolean
  logger?: ServerLogger
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  /** prom-client registry to register the p2p metrics on (one server per registry) */
  metrics?: Registry
  /** peer / connection timeouts (geth defaults otherwise) */
  peerTimeouts?: PeerTimeouts
  /** geth netutil.AddrIsLAN for the inbound throttle; tests inject `() => false` */
  isLan?: (ip: string) => boolean
  /** inbound throttle per IP (geth inboundThrottleTime, 30 s) */
  inboundThrottleMs?: number
  /** further discovery options (intervals, timeouts) */
  discovery?: Partial<Omit<Discv4Config, 'privateKey' | 'db' | 'bootnodes' | 'netRestrict' | 'tcpPort'>>
  /**
   * further sources of dynamic dial candidates, mixed with discovery's random nodes (geth discmix.AddSource;
   * e.g. EIP-1459 lists through actors/dnsdisc.ts dnsDialCandidates, geth's --discovery.dns)
   */
  dialCandidates?: readonly Observable<Node>[]
}

export type ServerSnapshot = SnapshotFrom<typeof serverMachine>
export type ServerPeer = PeerHandle<PeerSnapshot>

export interface Server {
  start(): Promise<void>
  stop(): Promise<void>
  addPeer(node: Node | string): void
  /** geth RemovePeer: drop from the static set and disconnect (DiscRequested); resolves once it dropped */
  removePeer(node: Node | string): Promise<void>
  addTrustedPeer(node: Node | string): void
  removeTrustedPeer(node: Node | string): void
  peers(): ServerPeer[]
  peerCount(): number
  self(): Node
  nodeInfo(): NodeInfo
  peersInfo(): PeerInfo[]
  readonly events$: Observable<PeerEvent>
  readonly snapshot$: Observable<ServerSnapshot>
  readonly metrics?: Registry
  /** counts for tests and dashboards: peers, RLPx connections open, inbound in setup / parked by the listener */
  stats(): ServerStats
  /** the discovery service while running (undefined with noDiscovery) */
  readonly discovery: Discv4 | undefined
}

export interface ServerStats {
  peers: number
  /** RLPx connections open (peers, connections in their handshakes, closing ones) */
  connections: number
  /** inbound connections holding a listener slot (≤ maxPendingPeers) */
  inboundPending: number
  /** accepted sockets waiting for a slot */
  inboundWaiting: number
}

/** geth p2p.PeerEvent JSON (`peer` is the node id as 64 hex characters, enode.ID's text form). */
export interface PeerEvent {
  type: 'add' | 'drop' | 'msgsend' | 'msgrecv'
  peer: string
  error?: string
  protocol?: string
  msg_code?: number
  msg_size?: number
  /** local TCP endpoint, Go net.Addr form (`127.0.0.1:30303`, `[::1]:30303`) */
  local?: string
  remote?: string
}

/** geth p2p.NodeInfo (admin_nodeInfo). */
export interface NodeInfo {
  id: string
  name: string
  enode: string
  enr: string
  ip: string
  ports: { discovery: number; listener: number }
  listenAddr: string
  protocols: Record<string, unknown>
}

/** geth p2p.PeerInfo (admin_peers). */
export interface PeerInfo {
  enr?: string
  enode: string
  id: string
  name: string
  caps: string[]
  network: {
    localAddress: string
    remoteAddress: string
    inbound: boolean
    trusted: boolean
    static: boolean
  }
  protocols: Record<string, unknown>
}

/** Go's TCPAddr.String(): `ip:port`, IPv6 in brackets. */
export function formatHostPort(ip: string | undefined, port: number | undefined): string {
  const host = ip ?? ''
  return `${host.includes(':') ? `[${host}]` : host}:${port ?? 0}`
}

/**
 * geth ListenAddr text → host and port: `127.0.0.1:30303`, `[::1]:0`, `:30303` (all interfaces, as Go's
 * net.Listen), `0.0.0.0:0`. Throws RangeError when malformed.
 */
export function parseListenAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr.trim())
  if (!m) throw new RangeError(`invalid listen address ${addr} (want host:port)`)
  const port = Number(m[3])
  if (port > 65535) throw new RangeError(`invalid port in ${addr}`)
  const host = m[1] ?? m[2] ?? ''
  return { host: host === '' ? '0.0.0.0' : host, port }
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/**
 * The `error` of a drop event (geth: err.Error() of Peer.run's result): the DiscReason's text, except for a
 * connection failure, which reports the underlying error as geth reports the read error.
 */
export function dropErrorText(out: PeerOutput): string {
  if (out.error !== undefined && out.reason === DiscReason.NetworkError) return errorText(out.error)
  return discReasonString(out.reason)
}

/** Config netRestrict (CIDR text, list, or matcher) → the matcher checkDial and the listener use. */
export function makeNetRestrict(
  nr: string | readonly string[] | NetRestrict | null | undefined,
): NetRestrict | null {
  if (nr === undefined || nr === null) return null
  if (typeof nr === 'string' || Array.isArray(nr)) {
    const list = (typeof nr === 'string' ? nr.split(',') : (nr as readonly string[]))
      .map((s) => s.trim())
      .filter((s) => s !== '')
    return new Netlist(list)
  }
  return nr as NetRestrict
}

/** geth Cap.Cmp order: by name, then version. */
export function sortCaps(caps: Capability[]): Capability[] {
  return caps.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.version - b.version))
}

/** One end of a TCP socket: canonical IP (IPv4-mapped unwrapped), port, and Go's text form. */
export function endpoint(socket: Socket, side: 'local' | 'remote') {
  const raw = side === 'local' ? socket.localAddress : socket.remoteAddress
  const ip = raw === undefined ? undefined : unmapAddress(raw)
  const port = side === 'local' ? socket.localPort : socket.remotePort
  return { ip, port, text: formatHostPort(ip, port) }
}

/** geth Server.NodeInfo: protocols' nodeInfo() (or "unknown") once per protocol name. */
export function buildNodeInfo(a: {
  node: Node
  record?: Enr
  name: string
  listenAddr: string
  protocols: readonly Protocol[]
}): NodeInfo {
  const protocols: Record<string, unknown> = {}
  for (const p of a.protocols)
    if (!(p.name in protocols)) protocols[p.name] = p.nodeInfo ? p.nodeInfo() : 'unknown'
  return {
    id: bytesToHex(a.node.id),
    name: a.name,
    enode: formatEnode(a.node),
    enr: a.record ? enrToText(a.record) : '',
    ip: a.node.ip ?? '',
    ports: { discovery: a.node.udp ?? 0, listener: a.node.tcp ?? 0 },
    listenAddr: a.listenAddr,
    protocols,
  }
}

/**
 * geth Peer.Info: `node` is the dialled node, or for inbound peers the remote TCP endpoint (geth nodeFromConn);
 * the ENR only when that node has a record; each running protocol's peerInfo(id) — null → "handshake" — or
 * "unknown" without one.
 */
export function buildPeerInfo(a: {
  id: string
  hello: Hello
  matched: readonly { protocol: Protocol }[]
  node: Node
  local: string
  remote: string
  inbound: boolean
  trusted: boolean
  static: boolean
}): PeerInfo {
  const protocols: Record<string, unknown> = {}
  for (const { protocol: p } of a.matched)
    protocols[p.name] = p.peerInfo ? (p.peerInfo(a.node.id) ?? 'handshake') : 'unknown'
  return {
    ...(a.node.record && a.node.record.seq > 0n ? { enr: enrToText(a.node.record) } : {}),
    enode: formatEnode(a.node),
    id: a.id,
    name: a.hello.name,
    caps: a.hello.caps.map(capString),
    network: {
      localAddress: a.local,
      remoteAddress: a.remote,
      inbound: a.inbound,
      trusted: a.trusted,
      static: a.static,
    },
    protocols,
  }
}
