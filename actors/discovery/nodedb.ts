// The discovery node database after geth p2p/enode/nodedb.go: LevelDB (`classic-level`) at a path, or
// `memory-level` when none; previously seen nodes, per (node id, IP) endpoint-proof times and FINDNODE
// failure counts, the local record's sequence number, hourly expiry of nodes unseen for 24 h, and seeds.
//
// Schema (keys are bytes, as geth): "version" → varint(DB_VERSION), wiping the DB on mismatch;
//   "n:" + id(32) + ":v4"                                  → RLP [pubkey(64), ip(4|16|empty), udp, tcp, enr?]
//   "n:" + id(32) + ":v4:" + ip(16) + ":" + field          → field ∈ lastping | lastpong (varint unix seconds),
//                                                            findfail (varint); ip(16) = the IP as 16 bytes
//   "n:" + id(32) + ":v4:" + ::(16 zero bytes) + ":seq"    → uvarint stored record seq
//   "local:" + id(32) + ":seq"                             → uvarint local ENR seq (written with sync: true)
// Values use Go's varint / uvarint encodings like geth. The node value is our own RLP list (geth stores the
// ENR only), so DB_VERSION differs from geth's 9 and a geth node database is wiped, never misread.
// Times in this API are milliseconds (stored as whole seconds, as geth). `now` is injectable.
//
// API (all async): NodeDb.open({ path?, now?, decodeRecord? }); node(id) / updateNode(node) / nodeSeq(id) /
//   resolve(node) / deleteNode(id); lastPingReceived / updateLastPingReceived, lastPongReceived /
//   updateLastPongReceived, findFails / updateFindFails — all per (id, ip); localSeq(id) / storeLocalSeq(id,
//   seq); querySeeds(n = 30, maxAge = 5 days) — geth's random seeks, not a scan; expireNodes(now?);
//   ensureExpirer() (hourly, unref'd; the service calls it once bonding works, as geth's first
//   LastPongReceived does) / stopExpirer(); close(). Invalid IPs: updates return false, reads return 0.

import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import { concatBytes, equalBytes } from '../../codecs/bytes.ts'
import { decodeEnr, type Enr, formatIp } from '../../codecs/enr.ts'
import type { Node, NodeId } from '../../codecs/node.ts'
import { asBytes, asList, asUint, type RlpInput, rlpDecode, rlpEncode } from '../../codecs/rlp.ts'
import { ipTo16, parseAddr } from './netutil.ts'

/** Our schema version (geth uses 9 for its own value format; see the module comment). */
export const DB_VERSION = 1001
/** Nodes whose last PONG is older than this are dropped (geth `dbNodeExpiration`). */
export const DB_NODE_EXPIRATION_MS = 24 * 3600_000
/** Period of the expiry run (geth `dbCleanupCycle`). */
export const DB_CLEANUP_CYCLE_MS = 3600_000
/** geth QuerySeeds defaults as used by the table (`seedCount`, `seedMaxAge`). */
export const DEFAULT_SEED_COUNT = 30
export const DEFAULT_SEED_MAX_AGE_MS = 5 * 24 * 3600_000

const enc = new TextEncoder()
const VERSION_KEY = enc.encode('version')
const NODE_PREFIX = enc.encode('n:')
const LOCAL_PREFIX = enc.encode('local:')
const DISCOVER_ROOT = enc.encode(':v4')
const COLON = enc.encode(':')
const ZERO_IP16 = new Uint8Array(16)
const NODE_KEY_LEN = NODE_PREFIX.length + 32 + DISCOVER_ROOT.length

type Field = 'lastping' | 'lastpong' | 'findfail' | 'seq'
// memory-level has the same abstract-level API (it ignores the `sync` write option): one static type.
type Level = ClassicLevel<Uint8Array, Uint8Array>
interface NodeIterator {
  next(): Promise<[Uint8Array, Uint8Array] | undefined>
  seek(target: Uint8Array): void
  close(): Promise<void>
}

export interface NodeDbOptions {
  /** directory of the LevelDB; in-memory when absent or '' */
  path?: string
  /** clock in milliseconds (default Date.now) */
  now?: () => number
  /**
   * turns stored ENR bytes back into a record; default codecs/enr decodeEnr without re-verifying the
   * signature (records are verified before they are stored); undefined or throwing → loaded without record
   */
  decodeRecord?: (raw: Uint8Array) => Enr | undefined
}

export function nodeKey(id: NodeId): Uint8Array {
  return concatBytes(NODE_PREFIX, id, DISCOVER_ROOT)
}

export function nodeItemKey(id: NodeId, ip16: Uint8Array, field: Field | ''): Uint8Array {
  return concatBytes(nodeKey(id), COLON, ip16, COLON, enc.encode(field))
}

function localItemKey(id: NodeId, field: string): Uint8Array {
  return concatBytes(LOCAL_PREFIX, id, COLON, enc.encode(field))
}

/** Go's binary.PutUvarint. */
export function putUvarint(n: bigint): Uint8Array {
  const out: number[] = []
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80)
    n >>= 7n
  }
  out.push(Number(n))
  return new Uint8Array(out)
}

/** Go's binary.Uvarint; undefined when malformed or longer than 10 bytes. */
export function readUvarint(b: Uint8Array): bigint | undefined {
  let x = 0n
  let s = 0n
  for (let i = 0; i < b.length && i < 10; i++) {
    const v = b[i]!
    if (v < 0x80) return x | (BigInt(v) << s)
    x |= BigInt(v & 0x7f) << s
    s += 7n
  }
  return undefined
}

/** Go's binary.PutVarint (zig-zag). */
export function putVarint(n: bigint): Uint8Array {
  const ux = n < 0n ? ~(n << 1n) & 0xffffffffffffffffn : n << 1n
  return putUvarint(ux)
}

export function readVarint(b: Uint8Array): bigint | undefined {
  const ux = readUvarint(b)
  if (ux === undefined) return undefined
  const x = ux >> 1n
  return ux & 1n ? ~x : x
}

function startsWith(a: Uint8Array, prefix: Uint8Array): boolean {
  return a.length >= prefix.length && equalBytes(a.subarray(0, prefix.length), prefix)
}

/** The smallest key greater than every key with this prefix. */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice()
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++
      return end.subarray(0, i + 1)
    }
  }
  return new Uint8Array([0xff, 0xff, 0xff, 0xff])
}

/** Split a key under "n:"; id undefined when not a node key; rest is what follows ":v4" (may be empty). */
function splitNodeKey(key: Uint8Array): {
  id?: Uint8Array
  isRecord: boolean
  ip16?: Uint8Array
  field?: string
} {
  if (key.length < NODE_KEY_LEN || !startsWith(key, NODE_PREFIX)) return { isRecord: false }
  const id = key.subarray(NODE_PREFIX.length, NODE_PREFIX.length + 32)
  if (!equalBytes(key.subarray(NODE_PREFIX.length + 32, NODE_KEY_LEN), DISCOVER_ROOT))
    return { isRecord: false }
  if (key.length === NODE_KEY_LEN) return { id, isRecord: true }
  const rest = key.subarray(NODE_KEY_LEN)
  if (rest.length < 18) return { id, isRecord: false }
  return {
    id,
    isRecord: false,
    ip16: rest.subarray(1, 17),
    field: new TextDecoder().decode(rest.subarray(18)),
  }
}

function ip16Of(ip: string | undefined): Uint8Array | undefined {
  const b = parseAddr(ip)
  return b && ipTo16(b)
}

export class NodeDb {
  private expirer: ReturnType<typeof setInterval> | undefined
  private closed = false

  private constructor(
    private readonly lvl: Level,
    private readonly now: () => number,
    private readonly decodeRecord: (raw: Uint8Array) => Enr | undefined,
    readonly path: string | undefined,
  ) {}

  /** Open (or create) the database; a version mismatch wipes it (geth newPersistentDB). */
  static async open(opts: NodeDbOptions = {}): Promise<NodeDb> {
    const now = opts.now ?? Date.now
    if (!opts.path) {
      const mem = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
      await mem.open()
      await mem.put(VERSION_KEY, putVarint(BigInt(DB_VERSION)))
      return new NodeDb(mem as unknown as Level, now, opts.decodeRecord ?? defaultDecodeRecord, undefined)
    }
    const path = opts.path
    const lvl = await openClassic(path)
    const current = putVarint(BigInt(DB_VERSION))
    const blob = await lvl.get(VERSION_KEY)
    if (blob === undefined) {
      await lvl.put(VERSION_KEY, current, { sync: true })
    } else if (!equalBytes(blob, current)) {
      await lvl.close()
      rmSync(path, { recursive: true, force: true })
      const fresh = await openClassic(path)
      await fresh.put(VERSION_KEY, current, { sync: true })
      return new NodeDb(fresh, now, opts.decodeRecord ?? defaultDecodeRecord, path)
    }
    return new NodeDb(lvl, now, opts.decodeRecord ?? defaultDecodeRecord, path)
  }

  // ---- node records ----

  /** The stored node with this id. */
  async node(id: NodeId): Promise<Node | undefined> {
    const blob = await this.lvl.get(nodeKey(id))
    return blob && this.decodeNode(id, blob)
  }

  /** Insert or overwrite a node, unless the DB already holds a higher record seq (geth UpdateNode). */
  async updateNode(node: Node): Promise<void> {
    const seq = node.record?.seq ?? 0n
    if (seq < (await this.nodeSeq(node.id))) return
    const ip = parseAddr(node.ip)
    const value: RlpInput[] = [node.pubkey, ip ?? new Uint8Array(0), node.udp ?? 0, node.tcp ?? 0]
    if (node.record) value.push(node.record.raw)
    await this.lvl.batch([
      { type: 'put', key: nodeKey(node.id), value: rlpEncode(value) },
      { type: 'put', key: nodeItemKey(node.id, ZERO_IP16, 'seq'), value: putUvarint(seq) },
    ])
  }

  /** The stored record seq of a node (0 when unknown). */
  async nodeSeq(id: NodeId): Promise<bigint> {
    return this.fetchUint(nodeItemKey(id, ZERO_IP16, 'seq'))
  }

  /** The stored node when it has a record seq at least n's, else n itself (geth Resolve). */
  async resolve(n: Node): Promise<Node> {
    if ((n.record?.seq ?? 0n) > (await this.nodeSeq(n.id))) return n
    return (await this.node(n.id)) ?? n
  }

  /** Delete everything stored about a node. */
  async deleteNode(id: NodeId): Promise<void> {
    await this.deleteRange(nodeKey(id))
  }

  // ---- per (id, IP) fields ----

  /** Time (ms) of the last PING received from id at ip; 0 when never. */
  async lastPingReceived(id: NodeId, ip: string | undefined): Promise<number> {
    return this.fetchTime(id, ip, 'lastping')
  }

  async updateLastPingReceived(id: NodeId, ip: string | undefined, time = this.now()): Promise<boolean> {
    return this.storeTime(id, ip, 'lastping', time)
  }

  /** Time (ms) of the last valid PONG (endpoint proof) from id at ip; 0 when never. */
  async lastPongReceived(id: NodeId, ip: string | undefined): Promise<number> {
    return this.fetchTime(id, ip, 'lastpong')
  }

  async updateLastPongReceived(id: NodeId, ip: string | undefined, time = this.now()): Promise<boolean> {
    return this.storeTime(id, ip, 'lastpong', time)
  }

  /** Consecutive FINDNODE failures of id at ip. */
  async findFails(id: NodeId, ip: string | undefined): Promise<number> {
    const ip16 = ip16Of(ip)
    if (!ip16) return 0
    return Number(await this.fetchInt(nodeItemKey(id, ip16, 'findfail')))
  }

  async updateFindFails(id: NodeId, ip: string | undefined, fails: number): Promise<boolean> {
    const ip16 = ip16Of(ip)
    if (!ip16) return false
    await this.lvl.put(nodeItemKey(id, ip16, 'findfail'), putVarint(BigInt(fails)))
    return true
  }

  // ---- local node ----

  /**
   * The local record seq; when none is stored, the current time in ms (geth localSeq), so a wiped DB
   * never reuses an old sequence number.
   */
  async localSeq(id: NodeId): Promise<bigint> {
    const seq = await this.fetchUint(localItemKey(id, 'seq'))
    return seq > 0n ? seq : BigInt(Math.floor(this.now()))
  }

  /** Store the local record seq durably (LevelDB sync write). */
  async storeLocalSeq(id: NodeId, seq: bigint): Promise<void> {
    await this.lvl.put(localItemKey(id, 'seq'), putUvarint(seq), { sync: true })
  }

  // ---- seeds and expiry ----

  /**
   * Up to n random nodes whose last PONG is at most maxAge old, for bootstrapping (geth QuerySeeds):
   * up to 5n seeks to random ids, each taking the next node record at or after it.
   */
  async querySeeds(n = DEFAULT_SEED_COUNT, maxAge = DEFAULT_SEED_MAX_AGE_MS): Promise<Node[]> {
    const now = this.now()
    const nodes: Node[] = []
    const seen = new Set<string>()
    const it: NodeIterator = this.lvl.iterator()
    const id = new Uint8Array(32)
    try {
      for (let seeks = 0; nodes.length < n && seeks < n * 5; seeks++) {
        // The first byte advances by a random amount each time, so small DBs are covered too.
        const ctr = id[0]!
        id.set(randomBytes(32))
        id[0] = (ctr + (id[0]! % 16)) & 0xff
        it.seek(nodeKey(id))
        const node = await this.nextNode(it)
        if (!node) {
          id[0] = 0
          continue
        }
        const key = Buffer.from(node.id).toString('hex')
        if (seen.has(key)) continue
        if (now - (await this.lastPongReceived(node.id, node.ip)) > maxAge) continue
        seen.add(key)
        nodes.push(node)
      }
    } finally {
      await it.close()
    }
    return nodes
  }

  /**
   * Delete the fields of every (id, IP) whose last PONG is older than 24 h, and whole nodes whose
   * youngest PONG is (geth expireNodes; nodes that never sent a PONG are kept, as geth).
   */
  async expireNodes(now = this.now()): Promise<number> {
    const threshold = Math.floor((now - DB_NODE_EXPIRATION_MS) / 1000)
    const stale: Uint8Array[] = []
    const staleNodes: Uint8Array[] = []
    let current: Uint8Array | undefined
    let youngest = 0
    const flush = () => {
      if (current && youngest > 0 && youngest < threshold) staleNodes.push(current)
      youngest = 0
    }
    for await (const [key, value] of this.lvl.iterator({ gte: NODE_PREFIX, lt: prefixEnd(NODE_PREFIX) })) {
      const k = splitNodeKey(key)
      if (!k.id) continue
      if (!current || !equalBytes(current, k.id)) {
        flush()
        current = k.id.slice()
      }
      if (k.field === 'lastpong' && k.ip16) {
        const t = Number(readVarint(value) ?? 0n)
        if (t > youngest) youngest = t
        if (t < threshold) stale.push(nodeItemKey(current, k.ip16, ''))
      }
    }
    flush()
    for (const p of stale) await this.deleteRange(p)
    for (const id of staleNodes) await this.deleteRange(nodeKey(id))
    return staleNodes.length
  }

  /** Start the hourly expiry (idempotent; the timer is unref'd so it never keeps the process alive). */
  ensureExpirer(period = DB_CLEANUP_CYCLE_MS): void {
    if (this.expirer || this.closed) return
    this.expirer = setInterval(() => {
      this.expireNodes().catch(() => {})
    }, period)
    this.expirer.unref()
  }

  stopExpirer(): void {
    if (this.expirer) clearInterval(this.expirer)
    this.expirer = undefined
  }

  /** Stop the expirer and close the database (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.stopExpirer()
    await this.lvl.close()
  }

  // ---- internals ----

  private async nextNode(it: NodeIterator): Promise<Node | undefined> {
    for (;;) {
      const entry = await it.next()
      if (!entry) return undefined
      const [key, value] = entry
      if (!startsWith(key, NODE_PREFIX)) return undefined // past the node keys
      const k = splitNodeKey(key)
      if (!k.isRecord || !k.id) continue
      const node = this.decodeNode(k.id, value)
      if (node) return node
    }
  }

  private decodeNode(id: Uint8Array, blob: Uint8Array): Node | undefined {
    try {
      const l = asList(rlpDecode(blob), 'node', 4)
      const pubkey = asBytes(l[0], 'pubkey')
      const ipBytes = asBytes(l[1], 'ip')
      const node: Node = { id: new Uint8Array(id), pubkey: new Uint8Array(pubkey) }
      if (ipBytes.length === 4 || ipBytes.length === 16) node.ip = formatIp(ipBytes)
      const udp = asUint(l[2], 'udp')
      const tcp = asUint(l[3], 'tcp')
      if (udp) node.udp = udp
      if (tcp) node.tcp = tcp
      if (l[4] !== undefined) {
        try {
          const rec = this.decodeRecord(new Uint8Array(asBytes(l[4], 'enr')))
          if (rec) node.record = rec
        } catch {
          // an undecodable record: keep the endpoint, drop the record
        }
      }
      return node
    } catch {
      return undefined // a damaged entry is skipped (geth panics)
    }
  }

  private async fetchTime(id: NodeId, ip: string | undefined, field: Field): Promise<number> {
    const ip16 = ip16Of(ip)
    if (!ip16) return 0
    return Number(await this.fetchInt(nodeItemKey(id, ip16, field))) * 1000
  }

  private async storeTime(id: NodeId, ip: string | undefined, field: Field, time: number): Promise<boolean> {
    const ip16 = ip16Of(ip)
    if (!ip16) return false
    await this.lvl.put(nodeItemKey(id, ip16, field), putVarint(BigInt(Math.floor(time / 1000))))
    return true
  }

  private async fetchInt(key: Uint8Array): Promise<bigint> {
    const blob = await this.lvl.get(key)
    return (blob && readVarint(blob)) ?? 0n
  }

  private async fetchUint(key: Uint8Array): Promise<bigint> {
    const blob = await this.lvl.get(key)
    return (blob && readUvarint(blob)) ?? 0n
  }

  private async deleteRange(prefix: Uint8Array): Promise<void> {
    await this.lvl.clear({ gte: prefix, lt: prefixEnd(prefix) })
  }
}

function defaultDecodeRecord(raw: Uint8Array): Enr {
  return decodeEnr(raw, { verify: false })
}

async function openClassic(path: string): Promise<ClassicLevel<Uint8Array, Uint8Array>> {
  const open = async () => {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    return db
  }
  try {
    return await open()
  } catch (e) {
    // geth recovers corrupted databases (leveldb.RecoverFile); LevelDB's repair is the equivalent.
    if ((e as { cause?: { code?: string } }).cause?.code !== 'LEVEL_CORRUPTION') throw e
    await ClassicLevel.repair(path)
    return open()
  }
}
