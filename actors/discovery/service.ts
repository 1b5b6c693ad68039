// The discovery v4 service (geth p2p/discover/v4_udp.go ListenV4 / UDPv4, table.go loop / doRefresh,
// table_reval.go doRevalidate, lookup.go lookupIterator): one UDP socket (actors/udp.ts), the packet transport
// (transport.ts), the Kademlia table (table.ts, plain data), the node DB (nodedb.ts), the local record
// (local-node.ts) and one lookup machine (machines/lookup.machine.ts) per lookup.
//
// API (stable; Discv4Config and the Discv4 handle are documented in discv4-types.ts):
//   const d = createDiscv4(config); await d.start(); … await d.stop()
//   d.self() / d.localRecord() / d.address()   our Node / ENR / bound UDP address (after start)
//   d.ping(node) → PongPacket · d.findnode(node, target64) → Node[] · d.requestENR(node) → Node
//   d.resolve(node) → Node · d.lookup(target64?) → Node[] closest first · d.randomNodes(): Observable<Node>
//   d.setExternalAddress(ip | undefined, udpPort?) · d.setEnrAttributes({ key: rlpValue | undefined })
//   d.table / d.db (tests, inspection) · d.stats() · d.packets$ · d.timeouts$ · d.refresh() · d.initDone
// Loops: refresh at start and every 15–30 min (DB seeds + bootnodes, self lookup, 3 random lookups; the table
// admits inbound nodes after the first); revalidation at the times table.runRevalidation returns (PING, ENR
// refresh on a higher seq, handleRevalidationResponse). Every timer is unref'd and cleared by stop().

import { randomBytes } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import type { Subscription } from 'rxjs'
import { Observable } from 'rxjs'
import { createActor } from 'xstate'
import { equalBytes } from '../../codecs/bytes.ts'
import type { PongPacket } from '../../codecs/discv4.ts'
import { parseNode } from '../../codecs/enode.ts'
import type { Enr } from '../../codecs/enr.ts'
import { BUCKET_SIZE } from '../../codecs/kad.ts'
import type { Node } from '../../codecs/node.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { publicKeyOf } from '../../crypto/secp256k1.ts'
import { lookupMachine, nextLookupDelay } from '../../machines/lookup.machine.ts'
import { fromTask } from '../../machines/task.ts'
import { openUdpSocket, type UdpAddress, type UdpSocket } from '../udp.ts'
import type { Discv4, Discv4Config } from './discv4-types.ts'
import { IpTracker } from './ip-tracker.ts'
import { LocalNode } from './local-node.ts'
import { NodeDb } from './nodedb.ts'
import {
  mathRng,
  nextRefreshDelay,
  nodeSeq,
  REFRESH_INTERVAL_MS,
  type Rng,
  Table,
  trackFindnode,
} from './table.ts'
import {
  Discv4Error,
  type Discv4Logger,
  type Discv4Stats,
  type PacketEvent,
  RESP_TIMEOUT_MS,
  type TimeoutHook,
  V4Transport,
} from './transport.ts'

export type { Discv4ErrorCode, DropReason, UdpAddr } from './transport.ts'
export { BOND_EXPIRATION_MS, udpAddrOf } from './transport.ts'
export {
  Discv4Error,
  type Discv4Logger,
  type Discv4Stats,
  type PacketEvent,
  RESP_TIMEOUT_MS,
  type TimeoutHook,
}

/** Random lookups per refresh after the self lookup (geth doRefresh). */
export const REFRESH_RANDOM_LOOKUPS = 3

export type { Discv4, Discv4Config } from './discv4-types.ts'

function toNode(n: Node | string): Node {
  return typeof n === 'string' ? parseNode(n) : n
}

/** Create the discovery service; nothing is bound until start(). */
export function createDiscv4(config: Discv4Config): Discv4 {
  return new Discv4Service(config)
}

interface Cancellable {
  cancel(): void
}

class Discv4Service implements Discv4 {
  private readonly cfg: Discv4Config
  private readonly now: () => number
  private readonly rng: Rng
  private readonly selfPubkey: Uint8Array
  private sock: UdpSocket | undefined
  private transport: V4Transport | undefined
  private tab: Table | undefined
  private nodeDb: NodeDb | undefined
  private ln: LocalNode | undefined
  private ownSocket = false
  private ownDb = false
  private started = false
  private starting: Promise<void> | undefined
  private bootnodes: Node[]
  private closed = false
  private sub: Subscription | undefined
  private unsubTable: (() => void) | undefined
  private refreshTimer: ReturnType<typeof setTimeout> | undefined
  private revalTimer: ReturnType<typeof setTimeout> | undefined
  private revalKick = false
  private refreshing: Promise<void> | undefined
  private readonly lookups = new Set<Cancellable>()
  private readonly waiters = new Set<Cancellable>()
  private readonly revalidations = new Set<Promise<void>>()
  private resolveInit!: () => void
  readonly initDone: Promise<void>

  constructor(cfg: Discv4Config) {
    this.cfg = cfg
    this.now = cfg.now ?? Date.now
    this.rng = cfg.rng ?? mathRng
    this.selfPubkey = publicKeyOf(cfg.privateKey)
    this.bootnodes = (cfg.bootnodes ?? []).map(toNode)
    this.initDone = new Promise((r) => {
      this.resolveInit = r
    })
  }

  private need<T>(x: T | undefined): T {
    if (x === undefined || !this.started) throw new Discv4Error('NOT_STARTED', 'discovery not started')
    return x
  }

  get table(): Table {
    return this.need(this.tab)
  }
  get db(): NodeDb {
    return this.need(this.nodeDb)
  }
  get localNode(): LocalNode {
    return this.need(this.ln)
  }
  private get tr(): V4Transport {
    return this.need(this.transport)
  }

  // ---- lifecycle ----

  start(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.starting ??= this.doStart()
    return this.starting
  }

  private async doStart(): Promise<void> {
    const cfg = this.cfg
    this.bootnodes = await Promise.all(this.bootnodes.map((n) => resolveBootnode(n, cfg.lookupHost)))
    this.nodeDb = cfg.db ?? (await NodeDb.open({ now: this.now }))
    this.ownDb = cfg.db === undefined
    try {
      this.sock =
        cfg.socket ?? (await openUdpSocket({ address: cfg.bindAddr ?? '0.0.0.0', port: cfg.port ?? 0 }))
    } catch (e) {
      if (this.ownDb) await this.nodeDb.close()
      throw e
    }
    this.ownSocket = cfg.socket === undefined
    try {
      await this.setup(this.sock, this.nodeDb)
    } catch (e) {
      if (this.ownSocket) await this.sock.close()
      if (this.ownDb) await this.nodeDb.close()
      throw e
    }
    this.started = true
    void this.refresh()
  }

  private async setup(sock: UdpSocket, db: NodeDb): Promise<void> {
    const cfg = this.cfg
    const bound = sock.address()
    this.ln = await LocalNode.create({
      privateKey: cfg.privateKey,
      db,
      udp: bound.port,
      tcp: cfg.tcpPort,
      bindAddr: cfg.bindAddr ?? bound.address,
      staticIp: cfg.externalIp,
      attributes: cfg.enrAttributes,
      ipTracker: cfg.predictEndpoint === false ? undefined : new IpTracker({ now: this.now }),
    })
    this.tab = new Table({
      selfId: this.ln.id,
      now: this.now,
      rng: this.rng,
      pingInterval: cfg.pingInterval,
      bootnodes: this.bootnodes,
      effects: {
        storeNode: (n) => void db.updateNode(n).catch(() => {}),
        revalidate: (n) => this.doRevalidate(n),
      },
    })
    const replyTimeout = cfg.replyTimeout ?? RESP_TIMEOUT_MS
    this.transport = new V4Transport({
      privateKey: cfg.privateKey,
      socket: sock,
      table: this.tab,
      db,
      localNode: this.ln,
      now: this.now,
      replyTimeout,
      bondWait: cfg.bondWait ?? replyTimeout,
      preferLive: !cfg.noFindnodeLivenessCheck,
      netRestrict: cfg.netRestrict,
      clockCheck: cfg.clockCheck,
      onTimeout: cfg.onTimeout,
      logger: cfg.logger,
    })
    const transport = this.transport
    this.sub = sock.datagrams$.subscribe((d) => transport.receive(d))
    this.unsubTable = this.tab.subscribe(() => this.kickRevalidation())
  }

  async stop(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.starting?.catch(() => {})
    if (!this.started) return
    clearTimeout(this.refreshTimer)
    clearTimeout(this.revalTimer)
    for (const l of [...this.lookups]) l.cancel()
    for (const w of [...this.waiters]) w.cancel()
    this.sub?.unsubscribe()
    this.unsubTable?.()
    this.transport?.close()
    await this.refreshing?.catch(() => {})
    await Promise.allSettled([...this.revalidations])
    await this.ln?.flush()
    if (this.ownSocket) await this.sock?.close()
    if (this.ownDb) await this.nodeDb?.close()
  }

  self(): Node {
    return this.localNode.node()
  }

  localRecord(): Enr {
    return this.localNode.record()
  }

  address(): UdpAddress {
    return this.need(this.sock).address()
  }

  setExternalAddress(ip: string | undefined, udpPort?: number): void {
    this.localNode.setStaticIp(ip, udpPort)
  }

  setEnrAttributes(attrs: Readonly<Record<string, Uint8Array | undefined>>): void {
    this.localNode.setAttributes(attrs)
  }

  stats(): Discv4Stats {
    const s = this.tr.stats
    return { ...s, dropped: { ...s.dropped }, timeoutsByType: { ...s.timeoutsByType } }
  }

  get packets$(): Observable<PacketEvent> {
    return this.tr.packets$.asObservable()
  }

  get timeouts$(): Observable<number> {
    return this.tr.timeouts$.asObservable()
  }

  // ---- requests ----

  ping(node: Node): Promise<PongPacket> {
    return this.tr.ping(node)
  }

  findnode(node: Node, target: Uint8Array): Promise<Node[]> {
    return this.tr.findnode(node, target)
  }

  requestENR(node: Node): Promise<Node> {
    return this.tr.requestENR(node)
  }

  /** geth Resolve: ask the node, then the table's newer copy, then a lookup for its key. */
  async resolve(n: Node): Promise<Node> {
    try {
      return await this.requestENR(n)
    } catch {}
    const inTable = this.table.getNode(n.id)
    if (inTable && nodeSeq(inTable) > nodeSeq(n)) {
      try {
        return await this.requestENR(inTable)
      } catch {}
    }
    for (const rn of await this.lookup(n.pubkey)) {
      if (!equalBytes(rn.id, n.id)) continue
      try {
        return await this.requestENR(rn)
      } catch {}
    }
    return n
  }

  // ---- lookups ----

  async lookup(target?: Uint8Array): Promise<Node[]> {
    const key = target ?? new Uint8Array(randomBytes(64))
    if (key.length !== 64) throw new Discv4Error('INVALID_TARGET', 'lookup target must be a 64-byte key')
    this.need(this.tab)
    // geth LookupPubkey: an empty table is refreshed (bootstrapped) first.
    if (this.table.len() === 0 && !this.closed) await this.refresh()
    return this.runLookup(key, false)
  }

  /** One FINDNODE of a lookup, accounted in the DB and table (geth lookup.query + handleTrackRequest). */
  private async query(node: Node, targetKey: Uint8Array): Promise<Node[]> {
    let nodes: Node[] = []
    let err: unknown
    try {
      nodes = await this.tr.findnode(node, targetKey)
    } catch (e) {
      err = e
    }
    if (this.closed || (err instanceof Discv4Error && err.code === 'CLOSED'))
      throw err ?? new Discv4Error('CLOSED')
    await trackFindnode(this.table, this.db, node, nodes).catch(() => {})
    if (err !== undefined && nodes.length === 0) throw err
    return nodes
  }

  /** Run one lookup machine; `refill` lets an empty seeding wait for the table (iterators, not refresh). */
  private runLookup(
    targetKey: Uint8Array,
    refill: boolean,
    onFound?: (nodes: Node[]) => void,
    signal?: AbortSignal,
  ): Promise<Node[]> {
    if (this.closed || signal?.aborted) return Promise.resolve([])
    const table = this.table
    const machine = lookupMachine.provide({
      actors: {
        // fromTask: no AbortController per query (machines/task.ts); waitForNodes reads the lazy signal
        seed: fromTask(async ({ input }) => table.findnodeByID(input.target, BUCKET_SIZE, false)),
        waitForNodes: fromTask(async ({ signal }) => {
          if (!refill) throw new Error('no refill during refresh')
          await this.waitForTable(signal)
        }),
        findnode: fromTask(async ({ input }) => this.query(input.node, targetKey)),
      },
    })
    const actor = createActor(machine, { input: { target: keccak256(targetKey), selfId: table.selfId } })
    return new Promise<Node[]>((resolve) => {
      const handle: Cancellable = { cancel: () => actor.send({ type: 'lookup.cancel' }) }
      this.lookups.add(handle)
      signal?.addEventListener('abort', handle.cancel)
      const finish = (nodes: Node[]) => {
        this.lookups.delete(handle)
        signal?.removeEventListener('abort', handle.cancel)
        resolve(nodes)
      }
      if (onFound) actor.on('lookup.found', (e) => onFound(e.nodes))
      actor.subscribe({
        complete: () => finish(actor.getSnapshot().output ?? []),
        error: (e) => {
          this.cfg.logger?.debug?.(`discv4: lookup failed: ${(e as Error)?.message}`)
          finish([])
        },
      })
      actor.start()
    })
  }

  /** geth lookupFailed: wait for init, a refresh, then for the table to hold a node (bounded by the machine). */
  private async waitForTable(signal: AbortSignal): Promise<void> {
    await this.cancellable(this.initDone, signal)
    if (this.table.len() > 0) return
    await this.cancellable(this.refresh(), signal)
    if (this.table.len() > 0) return
    let unsub = () => {}
    try {
      await this.cancellable(
        new Promise<void>((resolve) => {
          unsub = this.table.subscribe((e) => {
            if (e.type === 'table.added') resolve()
          })
        }),
        signal,
      )
    } finally {
      unsub()
    }
  }

  /** A promise that rejects with CLOSED when the service stops first. */
  private cancellable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.closed || signal?.aborted) return Promise.reject(new Discv4Error('CLOSED'))
    return new Promise<T>((resolve, reject) => {
      const done = () => {
        this.waiters.delete(w)
        signal?.removeEventListener('abort', w.cancel)
      }
      const w: Cancellable = {
        cancel: () => {
          done()
          reject(new Discv4Error('CLOSED', 'discovery stopped'))
        },
      }
      this.waiters.add(w)
      signal?.addEventListener('abort', w.cancel)
      p.then(
        (v) => {
          done()
          resolve(v)
        },
        (e) => {
          done()
          reject(e)
        },
      )
    })
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.cancellable(
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms)
        t.unref?.()
      }),
      signal,
    )
  }

  randomNodes(): Observable<Node> {
    return new Observable<Node>((subscriber) => {
      const abort = new AbortController()
      const { signal } = abort
      let last: number | undefined
      const loop = async () => {
        while (!signal.aborted && !this.closed) {
          const wait = nextLookupDelay(last, this.now())
          if (wait > 0) await this.sleep(wait, signal)
          if (signal.aborted || this.closed) break
          last = this.now()
          await this.runLookup(
            new Uint8Array(randomBytes(64)),
            true,
            (nodes) => {
              for (const n of nodes) if (!signal.aborted) subscriber.next(n)
            },
            signal,
          )
        }
      }
      loop().then(
        () => subscriber.complete(),
        () => subscriber.complete(),
      )
      return () => abort.abort()
    })
  }

  // ---- refresh (geth Table.loop / doRefresh) ----

  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (!this.refreshing) {
      clearTimeout(this.refreshTimer)
      this.refreshing = this.doRefresh()
        .catch((e) => this.cfg.logger?.debug?.(`discv4: refresh failed: ${(e as Error)?.message}`))
        .finally(() => {
          this.refreshing = undefined
          this.table.markInitDone()
          this.resolveInit()
          if (!this.closed) {
            this.refreshTimer = setTimeout(
              () => void this.refresh(),
              nextRefreshDelay(this.rng, this.cfg.refreshInterval ?? REFRESH_INTERVAL_MS),
            )
            this.refreshTimer.unref?.()
          }
        })
    }
    return this.refreshing
  }

  private async doRefresh(): Promise<void> {
    const seeds = await this.db.querySeeds()
    if (this.closed) return
    this.table.loadSeedNodes(seeds)
    await this.runLookup(this.selfPubkey, false)
    for (let i = 0; i < REFRESH_RANDOM_LOOKUPS && !this.closed; i++)
      await this.runLookup(new Uint8Array(randomBytes(64)), false)
  }

  // ---- revalidation (geth table_reval.go) ----

  /** Re-run the revalidation scheduler soon (after table changes); coalesced. */
  private kickRevalidation(): void {
    if (this.revalKick || this.closed) return
    this.revalKick = true
    queueMicrotask(() => {
      this.revalKick = false
      this.runRevalidation()
    })
  }

  private runRevalidation(): void {
    if (this.closed) return
    clearTimeout(this.revalTimer)
    const now = this.now()
    const { nextTime } = this.table.runRevalidation(now)
    if (Number.isFinite(nextTime)) {
      this.revalTimer = setTimeout(() => this.runRevalidation(), Math.max(0, nextTime - now))
      this.revalTimer.unref?.()
    }
  }

  /** geth doRevalidate: PING; on a higher seq fetch the record; report to the table. */
  private doRevalidate(node: Node): void {
    const p = (async () => {
      let didRespond = false
      let remoteSeq: bigint | undefined
      try {
        const pong = await this.tr.ping(node)
        didRespond = true
        remoteSeq = pong.enrSeq ?? 0n
      } catch {}
      let newRecord: Node | undefined
      if (remoteSeq !== undefined && remoteSeq > nodeSeq(node) && !this.closed) {
        try {
          newRecord = await this.tr.requestENR(node)
        } catch (e) {
          this.cfg.logger?.debug?.(`discv4: ENR request failed: ${(e as Error)?.message}`)
        }
      }
      if (this.closed) return
      this.table.handleRevalidationResponse(node.id, newRecord ? { didRespond, newRecord } : { didRespond })
      this.kickRevalidation()
    })().catch(() => {})
    this.revalidations.add(p)
    void p.finally(() => this.revalidations.delete(p))
  }
}

/** geth resolveBootnodeHostname's deadline. */
export const BOOTNODE_LOOKUP_TIMEOUT_MS = 5_000

/**
 * geth v1.17.5 resolveBootnodeHostname: a bootnode given by DNS name gets the name's first IPv4 address (its first
 * IPv6 one when it has none; geth's record keeps both, our Node one), within 5 s; otherwise the start fails with
 * `bad bootstrap node`.
 */
export async function resolveBootnode(
  n: Node,
  lookupHost: Discv4Config['lookupHost'] = (host) => lookup(host, { all: true }),
): Promise<Node> {
  if (n.ip !== undefined || !n.hostname) return n
  const host = n.hostname
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    const addrs = await Promise.race([
      lookupHost(host),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), BOOTNODE_LOOKUP_TIMEOUT_MS)
      }),
    ])
    const ip = addrs.find((a) => a.family === 4)?.address ?? addrs.find((a) => a.family === 6)?.address
    if (ip === undefined) throw new Error(`no IP addresses found for hostname ${JSON.stringify(host)}`)
    return { ...n, ip }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e)
    throw new Discv4Error(
      'BAD_BOOTNODE',
      `bad bootstrap node ${host}: ${why.startsWith('no IP') ? why : `DNS lookup failed for ${JSON.stringify(host)}: ${why}`}`,
    )
  } finally {
    clearTimeout(timer)
  }
}
