// The discv4 UDP transport, after geth p2p/discover/v4_udp.go: packet handling (verify* / handle*), reply
// matching by (node id, source IP, packet type) with a deadline, consecutive-timeout counting for the clock
// check, and the client requests (ping, findnode with ensureBond, requestENR). The table, node DB and local
// record are given; the refresh / revalidation / lookup loops live in service.ts.
//
// Handling (geth): PING → PONG to the UDP source (never `from`); ping back when our last PONG from that
// (id, IP) is older than 24 h (the new node is added when that pong arrives), else add to the table as an
// inbound node. PONG only when solicited and its reply token is our ping's hash: then the endpoint proof
// (lastpong per id + IP) is stored. FINDNODE / ENRRequest only with a proof younger than 24 h from that IP.
// NEIGHBORS / ENRResponse only when solicited. Expired packets (incl. expiration ≥ 2^63) are dropped.
// Datagrams are handled one at a time in arrival order (geth's single read loop), so a PONG's endpoint
// proof is stored before a FINDNODE that follows it is checked.
import { Subject } from 'rxjs'
import { equalBytes } from '../../codecs/bytes.ts'
import {
  type DecodedPacket,
  type Discv4Packet,
  type Discv4PacketType,
  decodePacket,
  type Endpoint,
  type EnrResponsePacket,
  encodePacket,
  expirationFrom,
  isExpired,
  type NeighborNode,
  type PingPacket,
  type PongPacket,
  splitNeighbors,
} from '../../codecs/discv4.ts'
import { decodeEnr, enrNodeId, enrToNode } from '../../codecs/enr.ts'
import { BUCKET_SIZE, idKey } from '../../codecs/kad.ts'
import type { Node, NodeId } from '../../codecs/node.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { uncompressPublicKey } from '../../crypto/secp256k1.ts'
import type { Datagram, UdpSocket } from '../udp.ts'
import { canonicalIp } from './ip-tracker.ts'
import type { LocalNode } from './local-node.ts'
import { checkRelayAddr } from './netutil.ts'
import type { NodeDb } from './nodedb.ts'
import { MAX_FINDNODE_FAILURES, nodeSeq, type Table } from './table.ts'

/** geth v4_udp.go respTimeout. */
export const RESP_TIMEOUT_MS = 500
/** geth v4_udp.go bondExpiration: endpoint proofs older than this are renewed. */
export const BOND_EXPIRATION_MS = 24 * 3600_000
/** geth nodeFromRPC errLowPort: relayed nodes must have a UDP port above this. */
export const MIN_RELAY_UDP_PORT = 1024
/** Datagrams waiting to be handled beyond this are dropped (bounded memory under a flood). */
export const MAX_QUEUED_DATAGRAMS = 4096

export type Discv4ErrorCode =
  | 'TIMEOUT'
  | 'CLOSED'
  | 'NO_UDP_ENDPOINT'
  | 'INVALID_RECORD'
  | 'INVALID_TARGET'
  | 'NOT_STARTED'
  /** a bootnode's DNS name did not resolve (geth: bad bootstrap node) */
  | 'BAD_BOOTNODE'

/** The one error class of the discovery service. */
export class Discv4Error extends Error {
  readonly code: Discv4ErrorCode
  readonly details: Record<string, unknown>
  constructor(code: Discv4ErrorCode, message?: string, details: Record<string, unknown> = {}) {
    super(message ? `${code}: ${message}` : code)
    this.name = 'Discv4Error'
    this.code = code
    this.details = details
  }
}

export interface UdpAddr {
  ip: string
  port: number
}

/** Why a datagram was not handled (geth's errExpired, errUnsolicitedReply, errUnknownNode, decode errors). */
export type DropReason = 'decode' | 'expired' | 'unsolicited' | 'unknownNode' | 'queueFull'

export interface PacketEvent {
  dir: 'in' | 'out'
  type: Discv4PacketType | 'invalid'
  size: number
  addr: UdpAddr
  /** set on inbound packets that were not handled */
  dropped?: DropReason
}

export interface Discv4Stats {
  packetsIn: number
  packetsOut: number
  bytesIn: number
  bytesOut: number
  /** the largest datagram we sent (must stay ≤ 1280) */
  maxPacketOut: number
  dropped: Record<DropReason, number>
  /** requests that got no (complete) reply in time */
  timeouts: number
  /** timeouts by the awaited reply type ('pong', 'neighbors', 'enrResponse') */
  timeoutsByType: Partial<Record<Discv4PacketType, number>>
  /** timeouts since the last matched reply (geth contTimeouts) */
  consecutiveTimeouts: number
  pendingReplies: number
}

export interface Discv4Logger {
  debug?(msg: string): void
  warn?(msg: string): void
}

/** The clock-check hook (actors/discovery/ntp.ts ClockCheck fits). */
export interface TimeoutHook {
  timeout(): void
  reply(): void
}

export interface TransportConfig {
  privateKey: Uint8Array
  socket: UdpSocket
  table: Table
  db: NodeDb
  localNode: LocalNode
  now: () => number
  replyTimeout: number
  /** wait after the bonding ping of ensureBond (geth sleeps respTimeout) */
  bondWait: number
  preferLive: boolean
  netRestrict?: { contains(ip: string | Uint8Array | undefined): boolean } | null
  clockCheck?: TimeoutHook
  onTimeout?: (consecutive: number) => void
  logger?: Discv4Logger
}

type MatchFn = (p: Discv4Packet) => { matched: boolean; done: boolean }

interface Matcher {
  from: string
  ip: string
  ptype: Discv4PacketType
  callback: MatchFn
  reply?: Discv4Packet
  timer: ReturnType<typeof setTimeout>
  resolve(p: Discv4Packet): void
  reject(e: Error): void
}

export interface PendingReply {
  promise: Promise<Discv4Packet>
  /** the last packet the matcher saw (set even when the request later times out) */
  readonly reply: Discv4Packet | undefined
}

/**
 * A PendingReply; a class rather than an object literal with a getter: a literal with a getter gets a fresh hidden
 * class per evaluation, which (old space until the next full GC) keeps the getter's closure, and everything it
 * reaches, alive through every young-generation GC (machines/task.ts).
 */
class Pending implements PendingReply {
  constructor(
    readonly promise: Promise<Discv4Packet>,
    private readonly matcher: Matcher | undefined,
  ) {}
  get reply(): Discv4Packet | undefined {
    return this.matcher?.reply
  }
}

/** The UDP address of a node, or a NO_UDP_ENDPOINT error (geth Node.UDPEndpoint). */
export function udpAddrOf(n: Node): UdpAddr {
  const ip = n.ip === undefined ? undefined : canonicalIp(n.ip)
  if (!ip || !n.udp) throw new Discv4Error('NO_UDP_ENDPOINT', 'node has no UDP endpoint')
  return { ip, port: n.udp }
}

export class V4Transport {
  readonly stats: Discv4Stats = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    maxPacketOut: 0,
    dropped: { decode: 0, expired: 0, unsolicited: 0, unknownNode: 0, queueFull: 0 },
    timeouts: 0,
    timeoutsByType: {},
    consecutiveTimeouts: 0,
    pendingReplies: 0,
  }
  readonly packets$ = new Subject<PacketEvent>()
  readonly timeouts$ = new Subject<number>()
  private readonly matchers: Matcher[] = []
  private queue: Datagram[] = []
  private draining = false
  private closed = false
  private readonly sleeps = new Set<{ timer: ReturnType<typeof setTimeout>; resolve(): void }>()

  constructor(private readonly cfg: TransportConfig) {}

  // ---- lifecycle ----

  /** Feed a received datagram (the service subscribes this to the socket's datagrams$). */
  receive(d: Datagram): void {
    if (this.closed) return
    if (this.queue.length >= MAX_QUEUED_DATAGRAMS) {
      this.stats.dropped.queueFull++
      return
    }
    this.queue.push(d)
    if (!this.draining) void this.drain()
  }

  /** Reject every pending request with CLOSED, cut bonding waits short; packets are ignored from now on. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.queue = []
    for (const m of this.matchers.splice(0)) {
      clearTimeout(m.timer)
      m.reject(new Discv4Error('CLOSED', 'discovery stopped'))
    }
    for (const s of this.sleeps) {
      clearTimeout(s.timer)
      s.resolve()
    }
    this.sleeps.clear()
    this.stats.pendingReplies = 0
    this.packets$.complete()
    this.timeouts$.complete()
  }

  get isClosed(): boolean {
    return this.closed
  }

  private async drain(): Promise<void> {
    this.draining = true
    try {
      while (this.queue.length > 0 && !this.closed) {
        const d = this.queue.shift()!
        try {
          await this.handleDatagram(d)
        } catch (e) {
          this.cfg.logger?.debug?.(
            `discv4: error handling packet from ${d.from.address}: ${(e as Error).message}`,
          )
        }
      }
    } finally {
      this.draining = false
    }
  }

  // ---- sending ----

  private expiration(): bigint {
    return expirationFrom(this.cfg.now() / 1000)
  }

  /** Encode, sign and send; returns the packet hash. Never throws for network errors. */
  send(to: UdpAddr, packet: Discv4Packet): Uint8Array {
    const { bytes, hash } = encodePacket(this.cfg.privateKey, packet)
    this.write(to, packet.type, bytes)
    return hash
  }

  private write(to: UdpAddr, type: Discv4PacketType, bytes: Uint8Array): void {
    if (this.closed || this.cfg.socket.closed) return
    this.stats.packetsOut++
    this.stats.bytesOut += bytes.length
    if (bytes.length > this.stats.maxPacketOut) this.stats.maxPacketOut = bytes.length
    this.packets$.next({ dir: 'out', type, size: bytes.length, addr: to })
    const failed = (e: unknown) =>
      this.cfg.logger?.debug?.(`discv4: send to ${to.ip}:${to.port} failed: ${(e as Error)?.message}`)
    try {
      this.cfg.socket.send(bytes, to.port, to.ip).catch(failed)
    } catch (e) {
      failed(e)
    }
  }

  /** Our endpoint as put in PING `from` (geth ourEndpoint; empty when the record has no UDP endpoint). */
  ourEndpoint(): Endpoint {
    const n = this.cfg.localNode.node()
    if (!n.ip || !n.udp) return { ip: '', udp: 0, tcp: 0 }
    return { ip: n.ip, udp: n.udp, tcp: n.tcp ?? 0 }
  }

  // ---- reply matching (geth pending / handleReply / loop) ----

  /** Register a matcher for replies of `ptype` from (id, ip); it expires after the reply timeout. */
  pending(id: NodeId, ip: string, ptype: Discv4PacketType, callback: MatchFn): PendingReply {
    let matcher!: Matcher
    const promise = new Promise<Discv4Packet>((resolve, reject) => {
      if (this.closed) {
        reject(new Discv4Error('CLOSED', 'discovery stopped'))
        return
      }
      matcher = { from: idKey(id), ip, ptype, callback, timer: undefined as never, resolve, reject }
      matcher.timer = setTimeout(() => this.expire(matcher), this.cfg.replyTimeout)
      matcher.timer.unref?.()
      this.matchers.push(matcher)
      this.stats.pendingReplies = this.matchers.length
    })
    return new Pending(promise, matcher)
  }

  private expire(m: Matcher): void {
    const i = this.matchers.indexOf(m)
    if (i < 0) return
    this.matchers.splice(i, 1)
    this.stats.pendingReplies = this.matchers.length
    this.stats.timeouts++
    this.stats.timeoutsByType[m.ptype] = (this.stats.timeoutsByType[m.ptype] ?? 0) + 1
    this.stats.consecutiveTimeouts++
    m.reject(new Discv4Error('TIMEOUT', `no ${m.ptype} reply`, { gotReply: m.reply !== undefined }))
    this.cfg.clockCheck?.timeout()
    this.cfg.onTimeout?.(this.stats.consecutiveTimeouts)
    this.timeouts$.next(this.stats.consecutiveTimeouts)
  }

  /** Offer a reply to the matchers; true when one of them accepted it (geth handleReply). */
  private handleReply(from: NodeId, ip: string, p: Discv4Packet): boolean {
    const key = idKey(from)
    let matched = false
    for (const m of [...this.matchers]) {
      if (m.from !== key || m.ptype !== p.type || m.ip !== ip) continue
      let r: { matched: boolean; done: boolean }
      try {
        r = m.callback(p)
      } catch (e) {
        this.cfg.logger?.debug?.(`discv4: reply callback failed: ${(e as Error)?.message}`)
        r = { matched: false, done: false }
      }
      matched ||= r.matched
      m.reply = p
      if (r.done) {
        const i = this.matchers.indexOf(m)
        if (i >= 0) this.matchers.splice(i, 1)
        clearTimeout(m.timer)
        m.resolve(p)
      }
      this.stats.consecutiveTimeouts = 0
      this.cfg.clockCheck?.reply()
    }
    this.stats.pendingReplies = this.matchers.length
    return matched
  }

  // ---- inbound packets (geth handlePacket + verify*/handle*) ----

  private drop(d: Datagram, type: PacketEvent['type'], reason: DropReason, addr: UdpAddr): void {
    this.stats.dropped[reason]++
    this.packets$.next({ dir: 'in', type, size: d.data.length, addr, dropped: reason })
  }

  private async handleDatagram(d: Datagram): Promise<void> {
    const from: UdpAddr = { ip: d.from.address, port: d.from.port }
    this.stats.packetsIn++
    this.stats.bytesIn += d.data.length
    let dec: DecodedPacket
    try {
      dec = decodePacket(d.data)
    } catch (e) {
      this.cfg.logger?.debug?.(`discv4: bad packet from ${from.ip}:${from.port}: ${(e as Error).message}`)
      this.drop(d, 'invalid', 'decode', from)
      return
    }
    const p = dec.packet
    const now = this.cfg.now()
    if ('expiration' in p && isExpired(p.expiration, now / 1000)) return this.drop(d, p.type, 'expired', from)
    switch (p.type) {
      case 'ping':
        this.packets$.next({ dir: 'in', type: p.type, size: d.data.length, addr: from })
        return this.handlePing(p, from, dec)
      case 'pong': {
        if (!this.handleReply(dec.senderId, from.ip, p)) return this.drop(d, p.type, 'unsolicited', from)
        this.packets$.next({ dir: 'in', type: p.type, size: d.data.length, addr: from })
        this.cfg.localNode.udpEndpointStatement(from.ip, { ip: p.to.ip, port: p.to.udp })
        await this.cfg.db.updateLastPongReceived(dec.senderId, from.ip, now)
        this.cfg.db.ensureExpirer()
        return
      }
      case 'findnode':
      case 'enrRequest': {
        if (!(await this.checkBond(dec.senderId, from.ip))) return this.drop(d, p.type, 'unknownNode', from)
        this.packets$.next({ dir: 'in', type: p.type, size: d.data.length, addr: from })
        if (p.type === 'findnode') this.handleFindnode(p.target, from, dec.senderId)
        else
          this.send(from, {
            type: 'enrResponse',
            replyTok: dec.hash,
            record: this.cfg.localNode.record().raw,
          })
        return
      }
      case 'neighbors':
      case 'enrResponse':
        if (!this.handleReply(dec.senderId, from.ip, p)) return this.drop(d, p.type, 'unsolicited', from)
        this.packets$.next({ dir: 'in', type: p.type, size: d.data.length, addr: from })
        return
    }
  }

  /** geth checkBond: an endpoint proof from (id, ip) younger than 24 h. */
  async checkBond(id: NodeId, ip: string): Promise<boolean> {
    return this.cfg.now() - (await this.cfg.db.lastPongReceived(id, ip)) < BOND_EXPIRATION_MS
  }

  private async handlePing(req: PingPacket, from: UdpAddr, dec: DecodedPacket): Promise<void> {
    const now = this.cfg.now()
    this.send(from, {
      type: 'pong',
      to: { ip: from.ip, udp: from.port, tcp: req.from.tcp },
      replyTok: dec.hash,
      expiration: this.expiration(),
      enrSeq: this.cfg.localNode.seq,
    })
    // The node as seen from the packet: UDP source address and port, the TCP port it claims.
    const n: Node = {
      id: dec.senderId,
      pubkey: dec.senderPubkey,
      ip: from.ip,
      tcp: req.from.tcp,
      udp: from.port,
    }
    if (now - (await this.cfg.db.lastPongReceived(n.id, from.ip)) > BOND_EXPIRATION_MS) {
      this.sendPing(n.id, from, () => this.cfg.table.addInboundNode(n)).promise.catch(() => {})
    } else {
      this.cfg.table.addInboundNode(n)
    }
    await this.cfg.db.updateLastPingReceived(n.id, from.ip, now)
    this.cfg.localNode.udpEndpointStatement(from.ip, { ip: req.to.ip, port: req.to.udp })
  }

  private handleFindnode(targetKey: Uint8Array, from: UdpAddr, _fromId: NodeId): void {
    const target = keccak256(targetKey)
    const closest = this.cfg.table.findnodeByID(target, BUCKET_SIZE, this.cfg.preferLive)
    const nodes: NeighborNode[] = []
    for (const n of closest) {
      if (!n.ip || checkRelayAddr(from.ip, n.ip) !== null) continue
      nodes.push({ ip: n.ip, udp: n.udp ?? 0, tcp: n.tcp ?? 0, pubkey: n.pubkey })
    }
    for (const packet of splitNeighbors(nodes, this.expiration())) this.send(from, packet)
  }

  // ---- client requests ----

  /** Send a PING; the pending reply resolves with the PONG whose reply token is this ping's hash. */
  sendPing(toId: NodeId, to: UdpAddr, callback?: () => void): PendingReply {
    const ping: PingPacket = {
      type: 'ping',
      version: 4,
      from: this.ourEndpoint(),
      to: { ip: to.ip, udp: to.port, tcp: 0 },
      expiration: this.expiration(),
      enrSeq: this.cfg.localNode.seq,
    }
    const { bytes, hash } = encodePacket(this.cfg.privateKey, ping)
    const rm = this.pending(toId, to.ip, 'pong', (p) => {
      const matched = equalBytes((p as PongPacket).replyTok, hash)
      if (matched) callback?.()
      return { matched, done: matched }
    })
    this.cfg.localNode.udpContact(to.ip)
    this.write(to, 'ping', bytes)
    return rm
  }

  /** PING a node and wait for its PONG (geth Ping). */
  async ping(n: Node): Promise<PongPacket> {
    const addr = udpAddrOf(n)
    return (await this.sendPing(n.id, addr).promise) as PongPacket
  }

  /** Cancellable sleep: resolves early when the transport closes. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const s = {
        timer: setTimeout(() => {
          this.sleeps.delete(s)
          resolve()
        }, ms),
        resolve,
      }
      s.timer.unref?.()
      this.sleeps.add(s)
    })
  }

  /** geth ensureBond: when the node has not pinged us for 24 h (or keeps failing), ping it and give it time
   *  to ping back, so that it holds an endpoint proof for us before we ask it something. */
  async ensureBond(toId: NodeId, to: UdpAddr): Promise<void> {
    const db = this.cfg.db
    const tooOld = this.cfg.now() - (await db.lastPingReceived(toId, to.ip)) > BOND_EXPIRATION_MS
    if (tooOld || (await db.findFails(toId, to.ip)) > MAX_FINDNODE_FAILURES) {
      await this.sendPing(toId, to).promise.catch(() => {})
      if (!this.closed) await this.sleep(this.cfg.bondWait)
    }
  }

  /**
   * FINDNODE: ask `n` for the nodes closest to the 64-byte `target` key, collecting Neighbors packets until
   * 16 nodes were received; a timeout after at least one reply is a success (geth findnode).
   */
  async findnode(n: Node, target: Uint8Array): Promise<Node[]> {
    if (target.length !== 64) throw new Discv4Error('INVALID_TARGET', 'findnode target must be a 64-byte key')
    const addr = udpAddrOf(n)
    await this.ensureBond(n.id, addr)
    if (this.closed) throw new Discv4Error('CLOSED', 'discovery stopped')
    const nodes: Node[] = []
    let received = 0
    const rm = this.pending(n.id, addr.ip, 'neighbors', (p) => {
      if (p.type !== 'neighbors') return { matched: false, done: false }
      for (const rn of p.nodes) {
        received++
        const node = this.nodeFromRPC(addr, rn)
        if (node) nodes.push(node)
      }
      return { matched: true, done: received >= BUCKET_SIZE }
    })
    this.send(addr, { type: 'findnode', target, expiration: this.expiration() })
    try {
      await rm.promise
    } catch (e) {
      if (!(e instanceof Discv4Error && e.code === 'TIMEOUT' && rm.reply !== undefined)) throw e
    }
    return nodes
  }

  /** geth nodeFromRPC: a relayed node is usable when its port, address and key are valid. */
  nodeFromRPC(sender: UdpAddr, rn: NeighborNode): Node | undefined {
    if (rn.udp <= MIN_RELAY_UDP_PORT) return undefined
    if (checkRelayAddr(sender.ip, rn.ip) !== null) return undefined
    if (this.cfg.netRestrict && !this.cfg.netRestrict.contains(rn.ip)) return undefined
    try {
      uncompressPublicKey(rn.pubkey)
    } catch {
      return undefined
    }
    return { id: keccak256(rn.pubkey), pubkey: rn.pubkey, ip: rn.ip, udp: rn.udp, tcp: rn.tcp }
  }

  /** ENRRequest: the node's current record, verified and with a matching id (geth RequestENR). */
  async requestENR(n: Node): Promise<Node> {
    const addr = udpAddrOf(n)
    await this.ensureBond(n.id, addr)
    if (this.closed) throw new Discv4Error('CLOSED', 'discovery stopped')
    const { bytes, hash } = encodePacket(this.cfg.privateKey, {
      type: 'enrRequest',
      expiration: this.expiration(),
    })
    const rm = this.pending(n.id, addr.ip, 'enrResponse', (p) => {
      const matched = equalBytes((p as EnrResponsePacket).replyTok, hash)
      return { matched, done: matched }
    })
    this.write(addr, 'enrRequest', bytes)
    const reply = (await rm.promise) as EnrResponsePacket
    let node: Node
    try {
      const rec = decodeEnr(reply.record)
      if (!equalBytes(enrNodeId(rec), n.id)) throw new Error('invalid ID in response record')
      if (rec.seq < nodeSeq(n)) return n // the response record is older
      node = enrToNode(rec)
    } catch (e) {
      throw new Discv4Error('INVALID_RECORD', (e as Error).message)
    }
    const bad = checkRelayAddr(addr.ip, node.ip ?? '')
    if (bad !== null) throw new Discv4Error('INVALID_RECORD', `invalid IP in response record: ${bad}`)
    return node
  }
}
