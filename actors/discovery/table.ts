// The discv4 node table as plain data (DESIGN.md §8: entries are not actors), after geth
// p2p/discover/table.go and table_reval.go: 17 buckets by log distance, k = 16 entries and 10 replacements
// per bucket, IP limits, inbound admission only after the first refresh, revalidation fast/slow lists.
//
// API (everything synchronous; the clock `now()` and `rng` are injected; no timers, no I/O):
//   new Table({ selfId, now?, rng?, pingInterval?, bootnodes?, effects? })
//   addFoundNode(n, forceSetLive?) / addInboundNode(n) → boolean   (geth handleAddNode; bumps known nodes)
//   addReplacement(n), deleteNode(id), getNode(id), nodes(), len(), buckets() (geth Table.Nodes()), bucketLen(i)
//   findnodeByID(target, n, preferLive?) → Node[] closest first
//   trackRequest(node, fails, found)    after a FINDNODE: `fails` is the node's consecutive failure count
//                                       (0 on success) as the service keeps it in the node DB; removes the node
//                                       when fails ≥ 5 and its bucket holds ≥ 4 entries, then adds `found`;
//                                       trackFindnode(table, db, node, found) does the DB part too (geth)
//   loadSeedNodes(dbSeeds)              adds DB seeds + bootnodes (geth loadSeedNodes, run at each refresh)
//   markInitDone() / isInitDone()       the service calls markInitDone() when the first refresh ends
//   runRevalidation(now?) → { started, nextTime }   nodes to PING now (also passed to effects.revalidate)
//   handleRevalidationResponse(id, { didRespond, remoteSeq?, newRecord? })
//                                       → { needsEnrRefresh, removed?, replacement? }; when needsEnrRefresh the
//                                       service requests the ENR and hands the newer node to addFoundNode
//   subscribe(listener) → unsubscribe   'table.added' / 'table.removed' events (geth nodeFeed / hooks)
//   nextRefreshDelay(rng)               15–30 min (geth nextRefreshTime)
// Effects: `effects.storeNode(node)` when a revalidated node passed > 5 checks (geth db.UpdateNode seeds),
// `effects.revalidate(node)` for each started revalidation (the service PINGs and reports back).
import { BUCKET_SIZE, distCmp, ID_BITS, idKey, logDist, pushByDistance } from '../../codecs/kad.ts'
import type { Node, NodeId } from '../../codecs/node.ts'
import { DistinctNetSet, isLan, isUnspecified, parseAddr } from './netutil.ts'

/** Number of buckets: the upper 1/15 of distances (geth `nBuckets` = hashBits / 15). */
export const N_BUCKETS = Math.floor(ID_BITS / 15)
/** Log distance of the closest bucket (geth `bucketMinDistance` = 239): distances ≤ 240 share bucket 0. */
export const BUCKET_MIN_DISTANCE = ID_BITS - N_BUCKETS
/** Size of the per-bucket replacement list (geth `maxReplacements`). */
export const MAX_REPLACEMENTS = 10
/** At most 2 addresses of one /24 per bucket (geth `bucketIPLimit`, `bucketSubnet`). */
export const BUCKET_IP_LIMIT = 2
export const BUCKET_SUBNET = 24
/** At most 10 addresses of one /24 in the whole table (geth `tableIPLimit`, `tableSubnet`). */
export const TABLE_IP_LIMIT = 10
export const TABLE_SUBNET = 24
/** Seeds loaded from the node DB per refresh and their max age (geth `seedCount`, `seedMaxAge`). */
export const SEED_COUNT = 30
export const SEED_MAX_AGE_MS = 5 * 24 * 3600_000
/** Fast revalidation list interval (geth Config.PingInterval default 3 s); the slow list is 3× that. */
export const PING_INTERVAL_MS = 3_000
export const SLOW_REVALIDATION_FACTOR = 3
/** Table refresh interval (geth Config.RefreshInterval 30 min; each wait is random in [15, 30) min). */
export const REFRESH_INTERVAL_MS = 30 * 60_000
/** Nodes exceeding this many consecutive FINDNODE failures are dropped (geth v4_udp.go `maxFindnodeFailures`). */
export const MAX_FINDNODE_FAILURES = 5
/** Revalidated nodes with more liveness checks than this are stored as DB seeds (geth table_reval.go). */
export const SEED_LIVENESS_CHECKS = 5

/** A source of uniform random integers in [0, n). */
export interface Rng {
  intn(n: number): number
}

export const mathRng: Rng = { intn: (n) => Math.floor(Math.random() * n) }

/** A small deterministic generator (mulberry32) for tests and simulations. */
export function seededRng(seed: number): Rng {
  let s = seed >>> 0
  return {
    intn(n) {
      s = (s + 0x6d2b79f5) >>> 0
      let t = s
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
    },
  }
}

/** Wait before the next table refresh: uniform in [interval/2, interval) (geth `nextRefreshTime`). */
export function nextRefreshDelay(rng: Rng = mathRng, interval = REFRESH_INTERVAL_MS): number {
  const half = Math.floor(interval / 2)
  return half + rng.intn(half)
}

/** The record sequence number of a node (0 for plain discv4 nodes without a record, as geth). */
export function nodeSeq(n: Node): bigint {
  return n.record?.seq ?? 0n
}

/** One entry as geth's `BucketNode` (inspection / admin API). */
export interface BucketNode {
  node: Node
  addedToTable: number
  addedToBucket: number
  checks: number
  live: boolean
}

export type TableEvent =
  | { type: 'table.added'; node: Node; bucket: number }
  | { type: 'table.removed'; node: Node; bucket: number }

export interface TableEffects {
  /** Persist a node that passed more than 5 liveness checks (the service writes it to the node DB). */
  storeNode?(node: Node): void
  /** A revalidation started for this node: PING it and report with handleRevalidationResponse. */
  revalidate?(node: Node): void
}

export interface TableConfig {
  selfId: NodeId
  /** milliseconds, monotonic; default Date.now */
  now?: () => number
  rng?: Rng
  pingInterval?: number
  /** fallback nodes (geth `nursery`), added at every loadSeedNodes */
  bootnodes?: Node[]
  effects?: TableEffects
}

export interface RevalidationResult {
  didRespond: boolean
  /** the ENR seq carried in the PONG */
  remoteSeq?: bigint
  /** a newer record already fetched by the caller */
  newRecord?: Node
}

export interface RevalidationOutcome {
  /** the PONG announced a higher seq and no newRecord was given: request the ENR, then addFoundNode */
  needsEnrRefresh: boolean
  removed?: Node
  replacement?: Node
}

type ListName = 'fast' | 'slow'

interface Entry {
  node: Node
  key: string
  addedToTable: number
  addedToBucket: number
  livenessChecks: number
  isValidatedLive: boolean
  revalList: RevalList | null
}

interface Bucket {
  index: number
  entries: Entry[]
  replacements: Entry[]
  ips: DistinctNetSet
}

/** geth `revalidationList`: nodes due for a PING, with one random next time per list. */
class RevalList {
  nodes: Entry[] = []
  nextTime = Number.POSITIVE_INFINITY
  constructor(
    readonly name: ListName,
    readonly interval: number,
  ) {}

  /** A random node not currently being checked (geth tries 3 × len times). */
  get(rng: Rng, exclude: Map<string, Entry>): Entry | undefined {
    if (this.nodes.length === 0) return undefined
    for (let i = 0; i < this.nodes.length * 3; i++) {
      const e = this.nodes[rng.intn(this.nodes.length)]!
      if (!exclude.has(e.key)) return e
    }
    return undefined
  }

  schedule(now: number, rng: Rng): void {
    this.nextTime = now + rng.intn(this.interval)
  }

  push(e: Entry, now: number, rng: Rng): void {
    this.nodes.push(e)
    if (this.nextTime === Number.POSITIVE_INFINITY) this.schedule(now, rng)
    e.revalList = this
  }

  remove(e: Entry): void {
    const i = this.nodes.indexOf(e)
    if (i >= 0) this.nodes.splice(i, 1)
    if (this.nodes.length === 0) this.nextTime = Number.POSITIVE_INFINITY
    e.revalList = null
  }
}

export class Table {
  readonly selfId: NodeId
  private readonly selfKey: string
  private readonly now: () => number
  private readonly rng: Rng
  private readonly effects: TableEffects
  private readonly bucketList: Bucket[] = []
  private readonly ips = new DistinctNetSet(TABLE_SUBNET, TABLE_IP_LIMIT)
  private readonly fast: RevalList
  private readonly slow: RevalList
  private readonly activeReq = new Map<string, Entry>()
  private readonly listeners = new Set<(e: TableEvent) => void>()
  private nursery: Node[]
  private initDone = false

  constructor(cfg: TableConfig) {
    this.selfId = cfg.selfId
    this.selfKey = idKey(cfg.selfId)
    this.now = cfg.now ?? Date.now
    this.rng = cfg.rng ?? mathRng
    this.effects = cfg.effects ?? {}
    const ping = cfg.pingInterval ?? PING_INTERVAL_MS
    this.fast = new RevalList('fast', ping)
    this.slow = new RevalList('slow', ping * SLOW_REVALIDATION_FACTOR)
    for (let i = 0; i < N_BUCKETS; i++)
      this.bucketList.push({
        index: i,
        entries: [],
        replacements: [],
        ips: new DistinctNetSet(BUCKET_SUBNET, BUCKET_IP_LIMIT),
      })
    this.nursery = [...(cfg.bootnodes ?? [])]
  }

  // ---- queries ----

  /** Bucket index of an id: log distance ≤ 240 → 0, else distance − 240 (geth bucketAtDistance). */
  bucketIndex(id: NodeId): number {
    const d = logDist(this.selfId, id)
    return d <= BUCKET_MIN_DISTANCE ? 0 : d - BUCKET_MIN_DISTANCE - 1
  }

  getNode(id: NodeId): Node | undefined {
    const key = idKey(id)
    return this.bucketList[this.bucketIndex(id)]!.entries.find((e) => e.key === key)?.node
  }

  /** All nodes in the table (bucket order). */
  nodes(): Node[] {
    return this.bucketList.flatMap((b) => b.entries.map((e) => e.node))
  }

  len(): number {
    let n = 0
    for (const b of this.bucketList) n += b.entries.length
    return n
  }

  /** How many entries bucket `i` holds (geth's discover/bucket/<i>/count). */
  bucketLen(i: number): number {
    return this.bucketList[i]?.entries.length ?? 0
  }

  /** Per-bucket entries with their liveness state (geth Table.Nodes). */
  buckets(): BucketNode[][] {
    return this.bucketList.map((b) =>
      b.entries.map((e) => ({
        node: e.node,
        addedToTable: e.addedToTable,
        addedToBucket: e.addedToBucket,
        checks: e.livenessChecks,
        live: e.isValidatedLive,
      })),
    )
  }

  /** The replacement list of the bucket an id falls in, newest first. */
  replacements(id: NodeId): Node[] {
    return this.bucketList[this.bucketIndex(id)]!.replacements.map((e) => e.node)
  }

  /**
   * The `n` table nodes closest to `target` (geth findnodeByID). With preferLive, only liveness-checked
   * nodes are returned when there are any.
   */
  findnodeByID(target: NodeId, n: number, preferLive = false): Node[] {
    const out: Node[] = []
    if (preferLive) {
      for (const b of this.bucketList)
        for (const e of b.entries) if (e.isValidatedLive) pushByDistance(out, e.node, target, n)
      if (out.length > 0) return out
    }
    for (const b of this.bucketList) for (const e of b.entries) pushByDistance(out, e.node, target, n)
    return out
  }

  isInitDone(): boolean {
    return this.initDone
  }

  /** Called by the service when the first refresh completed; inbound nodes are admitted from then on. */
  markInitDone(): void {
    this.initDone = true
  }

  subscribe(listener: (e: TableEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  // ---- insertion and removal ----

  /** A node learned from a lookup or the DB; may not be live (geth addFoundNode). */
  addFoundNode(n: Node, forceSetLive = false): boolean {
    return this.handleAddNode(n, false, forceSetLive)
  }

  /** A node that contacted us (PING with a valid endpoint proof); refused until init is done. */
  addInboundNode(n: Node): boolean {
    return this.handleAddNode(n, true, false)
  }

  /** Add to the replacement list of n's bucket (newest first, at most 10). */
  addReplacement(n: Node): void {
    if (idKey(n.id) === this.selfKey) return
    this.pushReplacement(this.bucketList[this.bucketIndex(n.id)]!, n)
  }

  /** Remove a node; a random replacement of its bucket takes its place. Returns the replacement. */
  deleteNode(id: NodeId): Node | undefined {
    return this.deleteInBucket(this.bucketList[this.bucketIndex(id)]!, idKey(id))?.node
  }

  /** Add DB seeds and the bootnodes (geth loadSeedNodes). */
  loadSeedNodes(dbSeeds: Node[] = []): void {
    for (const n of [...dbSeeds, ...this.nursery]) this.handleAddNode(n, false, false)
  }

  setFallbackNodes(nodes: Node[]): void {
    this.nursery = [...nodes]
  }

  bootnodes(): Node[] {
    return [...this.nursery]
  }

  /**
   * Account a finished FINDNODE to `node` (geth handleTrackRequest). `fails` is the consecutive failure
   * count after this request (0 after a success), kept by the caller in the node DB.
   */
  trackRequest(node: Node, fails: number, found: Node[]): void {
    const b = this.bucketList[this.bucketIndex(node.id)]!
    // Drop nodes that keep failing, but only if the bucket has enough others (helps small test networks).
    if (fails >= MAX_FINDNODE_FAILURES && b.entries.length >= BUCKET_SIZE / 4)
      this.deleteInBucket(b, idKey(node.id))
    for (const n of found) this.handleAddNode(n, false, false)
  }

  private handleAddNode(n: Node, inbound: boolean, forceSetLive: boolean): boolean {
    const key = idKey(n.id)
    if (key === this.selfKey) return false
    if (inbound && !this.initDone) return false
    const b = this.bucketList[this.bucketIndex(n.id)]!
    if (this.bumpInBucket(b, n, inbound).entry) return false
    if (b.entries.length >= BUCKET_SIZE) {
      this.pushReplacement(b, n)
      return false
    }
    // A node waiting as a replacement moves into the bucket: release its IP slot first.
    const ri = b.replacements.findIndex((e) => e.key === key)
    let fromReplacements: Entry | undefined
    if (ri >= 0) {
      fromReplacements = b.replacements[ri]!
      b.replacements.splice(ri, 1)
      this.removeIP(b, fromReplacements.node.ip)
    }
    if (!this.addIP(b, n.ip)) {
      if (fromReplacements && this.addIP(b, fromReplacements.node.ip))
        b.replacements.splice(ri, 0, fromReplacements)
      return false
    }
    const e: Entry = {
      node: n,
      key,
      addedToTable: fromReplacements?.addedToTable ?? 0,
      addedToBucket: 0,
      livenessChecks: forceSetLive ? 1 : 0,
      isValidatedLive: forceSetLive,
      revalList: null,
    }
    b.entries.push(e)
    this.nodeAdded(b, e)
    return true
  }

  private pushReplacement(b: Bucket, n: Node): void {
    const key = idKey(n.id)
    if (b.replacements.some((e) => e.key === key)) return // geth: TODO update ENR
    if (b.entries.some((e) => e.key === key)) return
    if (!this.addIP(b, n.ip)) return
    const e: Entry = {
      node: n,
      key,
      addedToTable: this.now(),
      addedToBucket: 0,
      livenessChecks: 0,
      isValidatedLive: false,
      revalList: null,
    }
    b.replacements.unshift(e)
    if (b.replacements.length > MAX_REPLACEMENTS) {
      const removed = b.replacements.pop()!
      this.removeIP(b, removed.node.ip)
    }
  }

  private deleteInBucket(b: Bucket, key: string): Entry | undefined {
    const i = b.entries.findIndex((e) => e.key === key)
    if (i < 0) return undefined
    const [n] = b.entries.splice(i, 1)
    this.removeIP(b, n!.node.ip)
    this.nodeRemoved(b, n!)
    if (b.replacements.length === 0) return undefined
    const r = this.rng.intn(b.replacements.length)
    const [rep] = b.replacements.splice(r, 1)
    b.entries.push(rep!)
    this.nodeAdded(b, rep!)
    return rep
  }

  /**
   * Update a node already in the bucket (geth bumpInBucket). Found nodes must advance the record seq;
   * inbound contact may change anything. An endpoint change re-queues the node on the fast list.
   */
  private bumpInBucket(b: Bucket, n: Node, inbound: boolean): { entry?: Entry; endpointChanged: boolean } {
    const key = idKey(n.id)
    const e = b.entries.find((x) => x.key === key)
    if (!e) return { endpointChanged: false }
    if (nodeSeq(n) <= nodeSeq(e.node) && !inbound) return { entry: e, endpointChanged: false }
    const ipChanged = !sameIp(n.ip, e.node.ip)
    const portChanged = n.udp !== e.node.udp
    if (ipChanged) {
      this.removeIP(b, e.node.ip)
      if (!this.addIP(b, n.ip)) {
        this.addIP(b, e.node.ip)
        return { entry: e, endpointChanged: false }
      }
    }
    e.node = n
    if (ipChanged || portChanged) {
      e.isValidatedLive = false
      this.moveToList(this.fast, e)
      return { entry: e, endpointChanged: true }
    }
    return { entry: e, endpointChanged: false }
  }

  private addIP(b: Bucket, ip: string | undefined): boolean {
    const bytes = parseAddr(ip)
    if (!bytes || isUnspecified(bytes)) return false // nodes without an IP cannot be added
    if (isLan(bytes)) return true
    if (!this.ips.add(bytes)) return false
    if (!b.ips.add(bytes)) {
      this.ips.remove(bytes)
      return false
    }
    return true
  }

  private removeIP(b: Bucket, ip: string | undefined): void {
    const bytes = parseAddr(ip)
    if (!bytes || isLan(bytes)) return
    this.ips.remove(bytes)
    b.ips.remove(bytes)
  }

  private nodeAdded(b: Bucket, e: Entry): void {
    const now = this.now()
    if (e.addedToTable === 0) e.addedToTable = now
    e.addedToBucket = now
    this.fast.push(e, now, this.rng)
    this.emit({ type: 'table.added', node: e.node, bucket: b.index })
  }

  private nodeRemoved(b: Bucket, e: Entry): void {
    e.revalList?.remove(e)
    this.emit({ type: 'table.removed', node: e.node, bucket: b.index })
  }

  private emit(ev: TableEvent): void {
    for (const l of this.listeners) l(ev)
  }

  // ---- revalidation (geth table_reval.go) ----

  /**
   * Start due revalidations: each list whose time has come yields one random node not already being
   * checked, and is rescheduled at now + random(interval). Returns the nodes to PING and the next time
   * this should run (Infinity when both lists are empty).
   */
  runRevalidation(now = this.now()): { started: Node[]; nextTime: number } {
    const started: Node[] = []
    for (const list of [this.fast, this.slow]) {
      if (list.nextTime <= now) {
        const e = list.get(this.rng, this.activeReq)
        if (e) {
          this.activeReq.set(e.key, e)
          started.push(e.node)
        }
        list.schedule(now, this.rng)
      }
    }
    for (const n of started) this.effects.revalidate?.(n)
    return { started, nextTime: Math.min(this.fast.nextTime, this.slow.nextTime) }
  }

  /** Ids with a revalidation in progress. */
  activeRevalidations(): number {
    return this.activeReq.size
  }

  /** Which revalidation list a node is on (tests, inspection). */
  revalidationList(id: NodeId): ListName | undefined {
    const key = idKey(id)
    return this.bucketList[this.bucketIndex(id)]!.entries.find((e) => e.key === key)?.revalList?.name
  }

  /** Apply the result of a revalidation PING (geth handleResponse). */
  handleRevalidationResponse(id: NodeId, res: RevalidationResult): RevalidationOutcome {
    const key = idKey(id)
    const e = this.activeReq.get(key)
    this.activeReq.delete(key)
    // Removed from the table while being checked: nothing to do (and never re-add it).
    if (!e || e.revalList === null) return { needsEnrRefresh: false }
    const b = this.bucketList[this.bucketIndex(id)]!
    const now = this.now()
    const out: RevalidationOutcome = { needsEnrRefresh: false }
    if (!res.didRespond) {
      e.livenessChecks = Math.floor(e.livenessChecks / 3)
      if (e.livenessChecks <= 0) {
        out.removed = e.node
        out.replacement = this.deleteInBucket(b, key)?.node
      } else {
        this.moveToList(this.fast, e, now)
      }
    } else {
      e.livenessChecks++
      e.isValidatedLive = true
      let endpointChanged = false
      if (res.newRecord) endpointChanged = this.bumpInBucket(b, res.newRecord, false).endpointChanged
      else if (res.remoteSeq !== undefined && res.remoteSeq > nodeSeq(e.node)) out.needsEnrRefresh = true
      // A node that passed and kept its endpoint moves to the slow list.
      if (!endpointChanged) this.moveToList(this.slow, e, now)
    }
    if (e.isValidatedLive && e.livenessChecks > SEED_LIVENESS_CHECKS) this.effects.storeNode?.(e.node)
    return out
  }

  private moveToList(dest: RevalList, e: Entry, now = this.now()): void {
    if (e.revalList === dest) return
    e.revalList?.remove(e)
    dest.push(e, now, this.rng)
  }
}

function sameIp(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true
  const x = parseAddr(a)
  const y = parseAddr(b)
  if (!x || !y || x.length !== y.length) return false
  return x.every((v, i) => v === y[i])
}

/** Sort helper: nodes ordered by distance to target (closest first). */
export function sortByDistance(target: NodeId, nodes: Node[]): Node[] {
  return [...nodes].sort((a, b) => distCmp(target, a.id, b.id))
}

/** The node-DB part trackFindnode needs (NodeDb implements it). */
export interface FindFailStore {
  findFails(id: NodeId, ip: string | undefined): Promise<number>
  updateFindFails(id: NodeId, ip: string | undefined, fails: number): Promise<unknown>
}

/**
 * geth handleTrackRequest in full: a FINDNODE to `node` returned `found` (success = at least one node);
 * update the consecutive-failure counter in the DB, then let the table drop the node (≥ 5 failures) and add
 * the found nodes. Returns the new failure count.
 */
export async function trackFindnode(
  table: Table,
  db: FindFailStore,
  node: Node,
  found: Node[],
): Promise<number> {
  const fails = found.length > 0 ? 0 : (await db.findFails(node.id, node.ip)) + 1
  await db.updateFindFails(node.id, node.ip, fails)
  table.trackRequest(node, fails, found)
  return fails
}
