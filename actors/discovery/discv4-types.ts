// The public types of the discovery v4 service (actors/discovery/service.ts): its configuration and handle.
import type { Observable } from 'rxjs'
import type { PongPacket } from '../../codecs/discv4.ts'
import type { Enr } from '../../codecs/enr.ts'
import type { Node } from '../../codecs/node.ts'
import type { UdpAddress, UdpSocket } from '../udp.ts'
import type { LocalNode } from './local-node.ts'
import type { NodeDb } from './nodedb.ts'
import type { Rng, Table } from './table.ts'
import type { Discv4Logger, Discv4Stats, PacketEvent, TimeoutHook } from './transport.ts'

export interface Discv4Config {
  /** our static private key (32 bytes) */
  privateKey: Uint8Array
  /** address to bind (default 0.0.0.0; use 127.0.0.1 in tests) */
  bindAddr?: string
  /** UDP port (default 0: any free port) */
  port?: number
  /** an already bound socket to use instead (shared; not closed by stop) */
  socket?: UdpSocket
  /** TCP port announced in our record and PING `from` (default: the UDP port) */
  tcpPort?: number
  /** node DB (not closed by stop); default: an in-memory DB owned by the service */
  db?: NodeDb
  /**
   * fallback nodes (enode:// or enr: text, or Node). A node given by DNS name (enode://…@boot.example.org:30303) is
   * resolved once at start, within 5 s, as geth v1.17.5 does; a name that does not resolve fails the start
   */
  bootnodes?: Array<Node | string>
  /** the DNS resolver for bootnode names (default node:dns lookup, all addresses) */
  lookupHost?: (host: string) => Promise<readonly { address: string; family: number }[]>
  /** only accept relayed nodes inside these networks (geth netrestrict; actors/discovery/netutil Netlist fits) */
  netRestrict?: { contains(ip: string | Uint8Array | undefined): boolean } | null
  /** extra ENR entries as raw RLP values (e.g. the `eth` fork id entry) */
  enrAttributes?: Readonly<Record<string, Uint8Array>>
  /** a fixed external IP for our record (nat extip:IP) */
  externalIp?: string
  /** predict our external endpoint from PONG statements (default true; geth IPTracker) */
  predictEndpoint?: boolean
  /** wall clock in ms (default Date.now): packet expirations, DB times, table clock */
  now?: () => number
  rng?: Rng
  /** reply deadline (default 500 ms, geth respTimeout) */
  replyTimeout?: number
  /** wait after a bonding PING before asking (default = replyTimeout, geth ensureBond) */
  bondWait?: number
  /** fast revalidation interval (default 3 s; slow list 3×) */
  pingInterval?: number
  /** refresh interval (default 30 min: each wait is uniform in [interval/2, interval)) */
  refreshInterval?: number
  /** do not prefer liveness-checked nodes when answering FINDNODE (geth NoFindnodeLivenessCheck) */
  noFindnodeLivenessCheck?: boolean
  /** clock-check hook fed with every timeout / matched reply (actors/discovery/ntp.ts createClockCheck fits) */
  clockCheck?: TimeoutHook
  /** called after every request timeout with the consecutive-timeout count */
  onTimeout?: (consecutive: number) => void
  logger?: Discv4Logger
}

export interface Discv4 {
  start(): Promise<void>
  /** closes the socket (when owned), cancels lookups and requests, clears timers; resolves when done */
  stop(): Promise<void>
  self(): Node
  localRecord(): Enr
  address(): UdpAddress
  ping(node: Node): Promise<PongPacket>
  findnode(node: Node, target: Uint8Array): Promise<Node[]>
  requestENR(node: Node): Promise<Node>
  resolve(node: Node): Promise<Node>
  /** iterative lookup for a 64-byte public key (random when omitted); result ordered by distance to keccak(target) */
  lookup(target?: Uint8Array): Promise<Node[]>
  /** nodes from random lookups (≥ 1 s apart) while subscribed (geth RandomNodes); completes on stop */
  randomNodes(): Observable<Node>
  /** run a table refresh now (or join the one running) */
  refresh(): Promise<void>
  /** resolves when the first refresh finished (geth tab.initDone) */
  readonly initDone: Promise<void>
  setExternalAddress(ip: string | undefined, udpPort?: number): void
  setEnrAttributes(attrs: Readonly<Record<string, Uint8Array | undefined>>): void
  stats(): Discv4Stats
  readonly packets$: Observable<PacketEvent>
  /** consecutive-timeout count after every request timeout */
  readonly timeouts$: Observable<number>
  readonly table: Table
  readonly db: NodeDb
  readonly localNode: LocalNode
}
