// geth's dial scheduler (p2p/dial.go dialScheduler) as pure, immutable state plus transition functions.
// The supervisor (machines/server.machine.ts) holds one DialSchedulerState in its context; the effects
// (resolve through discovery, TCP connect, the candidate stream) live in the dial machines and actors. geth's
// scheduler mirrors the server's peers and pending inbound connections in maps of its own (addPeerCh, addPendingCh,
// …); here checkDial asks the supervisor's own maps instead (DialConns), so an inbound connection changes no
// scheduler state unless its node is a static one.
//
// | function                  | geth counterpart                   | effect on the state                          |
// |---------------------------|------------------------------------|----------------------------------------------|
// | createDialScheduler(cfg)  | newDialScheduler                   | empty state                                  |
// | checkDial(s, node, conns) | checkDial                          | none: reason or null                         |
// | freeDialSlots(s)          | freeDialSlots                      | none: min((maxDialed−dialed)×2, maxActive)−dialing |
// | addStatic / removeStatic  | addStaticCh / remStaticCh          | static set + pool                            |
// | peerAdded / peerRemoved   | addPeerCh / remPeerCh              | dialPeers (dialled peers), static pool       |
// | inboundCompleted          | remPendingCh                       | static pool                                  |
// | schedule(s, now)          | loop head: startStaticDials        | static dials started, returns free demand    |
// | offerCandidate(s, n, …)   | `case node := <-nodesCh`           | one dynamic dial started or a reason         |
// | dialDone(s, id, now, …)   | `case task := <-d.doneCh` + resolve| dialing −1, resolve backoff, static pool     |
// | expireHistory(s, now, …)  | historyTimer / expireHistory       | history entries ≤ now dropped, statics back  |
// | nextHistoryExpiry(s)      | rearmHistoryTimer                  | none: when to call expireHistory next        |
//
// Functions that run checkDial (directly or to put a static entry back into the pool) take `conns`: the
// connections as they are after the change being made.
// Deviations, on purpose: history entries expire when `expiry <= now` (geth: `<`, which only works with
// its alarm firing strictly later); the static pick uses a seeded xorshift32 kept in the state (geth: a
// math/rand source) so the state stays pure and replayable; DNS host names are not modelled (Node has no
// hostname); the resolve time is taken when the dial task ends, not inside the task.
import { bytesToHex } from '../codecs/bytes.ts'
import type { Node } from '../codecs/node.ts'
import { PersistentMap } from './persistent-map.ts'

/** geth dialHistoryExpiration = inboundThrottleTime (30 s) + 5 s. */
export const DIAL_HISTORY_EXPIRATION_MS = 35_000
/** geth initialResolveDelay. */
export const INITIAL_RESOLVE_DELAY_MS = 60_000
/** geth maxResolveDelay. */
export const MAX_RESOLVE_DELAY_MS = 3_600_000
/** geth defaultMaxPendingPeers (also the default maxActiveDials). */
export const DEFAULT_MAX_PENDING_PEERS = 50

/** checkDial's named reasons (geth errSelf, errNoPort, errAlreadyDialing, …). */
export type DialRejectReason =
  | 'self'
  | 'no-port'
  | 'already-dialing'
  | 'already-connected'
  | 'pending-inbound'
  | 'netrestrict'
  | 'recently-dialed'

/** geth's error strings for the reasons, for logs. */
export const DIAL_REJECT_MESSAGES: Readonly<Record<DialRejectReason | 'no-free-slot', string>> = {
  self: 'is self',
  'no-port': 'node does not provide TCP port',
  'already-dialing': 'already dialing',
  'already-connected': 'already connected',
  'pending-inbound': 'peer has pending inbound connection',
  netrestrict: 'not contained in netrestrict list',
  'recently-dialed': 'recently dialed',
  'no-free-slot': 'no free dial slot',
}

export type DialFlag = 'static' | 'dynamic'

/** One started dial: what the supervisor hands to a new dial machine. */
export interface DialTask {
  /** node id, lowercase hex */
  id: string
  node: Node
  flag: DialFlag
  /** static task whose endpoint may be resolved through discovery in this run (backoff allows it) */
  mayResolve: boolean
}

/** Outcome of a finished dial task as far as the scheduler cares. */
export interface DialResult {
  /** undefined: no resolve attempted; null: resolve found nothing; Node: the resolved endpoint */
  resolved?: Node | null
}

export interface StaticEntry {
  node: Node
  inPool: boolean
  /** geth dialTask.resolveDelay */
  resolveDelay: number
  /** geth dialTask.lastResolved (ms), null before the first resolve */
  lastResolved: number | null
}

export interface DialSchedulerConfig {
  /** our node id, lowercase hex */
  self: string
  /** geth maxDialPeers (Server.MaxDialedConns) */
  maxDialPeers: number
  /** geth maxActiveDials (= maxPendingPeers), default 50 */
  maxActiveDials?: number
  /** geth netRestrict; null/undefined disables it */
  netRestrict?: NetRestrict | null
  /** whether a resolver (discovery) exists; without one static nodes are never resolved */
  canResolve?: boolean
  /** seed for the static pick (non-zero 32-bit) */
  seed?: number
}

/**
 * What checkDial asks of the server's connections (geth dialScheduler.peers and .pendingInbound, which the
 * supervisor keeps in its own maps: machines/server-steps.ts DialConnsView).
 */
export interface DialConns {
  /** a peer with this node id (hex) is connected: it passed the add-peer checkpoint and has not ended */
  connected(id: string): boolean
  /** an inbound connection from this node id passed post-handshake and add-peer has not answered it yet */
  pendingInbound(id: string): boolean
}

/** No connections (a scheduler on its own, tests). */
export const NO_CONNS: DialConns = { connected: () => false, pendingInbound: () => false }

export interface DialSchedulerState {
  readonly self: string
  readonly maxDialPeers: number
  readonly maxActiveDials: number
  readonly netRestrict: NetRestrict | null
  readonly canResolve: boolean
  readonly dialing: ReadonlyMap<string, DialTask>
  /** connected peers that were dialled (geth dialPeers) */
  readonly dialPeers: number
  readonly statics: ReadonlyMap<string, StaticEntry>
  /** ids of the static entries passing checkDial, in geth's swap-remove order */
  readonly staticPool: readonly string[]
  /** id → expiry time (ms) */
  readonly history: ReadonlyMap<string, number>
  readonly rng: number
}

export const nodeIdHex = (n: Node): string => bytesToHex(n.id)

// The per-event collections (dialing, history) are persistent (machines/persistent-map.ts):
// a change is O(1) instead of a copy. States built by hand with plain Maps / Sets work too (converted on first
// change).
const pmap = <K, V>(m: ReadonlyMap<K, V>): PersistentMap<K, V> =>
  m instanceof PersistentMap ? m : PersistentMap.from(m)

/** The scheduler state's record: a class, so that a change is one constructor call with every field in place. */
class State implements DialSchedulerState {
  constructor(
    readonly self: string,
    readonly maxDialPeers: number,
    readonly maxActiveDials: number,
    readonly netRestrict: NetRestrict | null,
    readonly canResolve: boolean,
    readonly dialing: ReadonlyMap<string, DialTask>,
    readonly dialPeers: number,
    readonly statics: ReadonlyMap<string, StaticEntry>,
    readonly staticPool: readonly string[],
    readonly history: ReadonlyMap<string, number>,
    readonly rng: number,
  ) {}
}

type Change = { -readonly [K in keyof DialSchedulerState]?: DialSchedulerState[K] }

/**
 * `s` with the fields of `c` replaced. Every state change goes through here: a spread (`{ ...s, x }`) of a state
 * that was itself made by a spread takes V8's slow object-cloning path, ~0.3 µs per change against ~0.01 µs.
 */
function changed(s: DialSchedulerState, c: Change): DialSchedulerState {
  return new State(
    s.self,
    s.maxDialPeers,
    s.maxActiveDials,
    s.netRestrict,
    s.canResolve,
    c.dialing ?? s.dialing,
    c.dialPeers ?? s.dialPeers,
    c.statics ?? s.statics,
    c.staticPool ?? s.staticPool,
    c.history ?? s.history,
    c.rng ?? s.rng,
  )
}

export function createDialScheduler(cfg: DialSchedulerConfig): DialSchedulerState {
  return new State(
    cfg.self.toLowerCase(),
    cfg.maxDialPeers,
    cfg.maxActiveDials && cfg.maxActiveDials > 0 ? cfg.maxActiveDials : DEFAULT_MAX_PENDING_PEERS,
    cfg.netRestrict ?? null,
    cfg.canResolve ?? false,
    PersistentMap.empty(),
    0,
    new Map(),
    [],
    PersistentMap.empty(),
    (cfg.seed ?? 0x1111) >>> 0 || 0x1111,
  )
}

/** geth freeDialSlots; negative when peers connected while their task still runs. */
export function freeDialSlots(s: DialSchedulerState): number {
  const slots = Math.min((s.maxDialPeers - s.dialPeers) * 2, s.maxActiveDials)
  return slots - s.dialing.size
}

/** geth checkDial: why `node` must not be dialed now, or null. */
export function checkDial(s: DialSchedulerState, node: Node, conns: DialConns): DialRejectReason | null {
  const id = nodeIdHex(node)
  if (id === s.self) return 'self'
  if (node.ip && !node.tcp) return 'no-port'
  if (s.dialing.has(id)) return 'already-dialing'
  if (conns.connected(id)) return 'already-connected'
  if (conns.pendingInbound(id)) return 'pending-inbound'
  if (s.netRestrict && !s.netRestrict.contains(node.ip)) return 'netrestrict'
  if (s.history.has(id)) return 'recently-dialed'
  return null
}

// --- static pool -------------------------------------------------------------------------------------

function withPool(
  s: DialSchedulerState,
  statics: Map<string, StaticEntry>,
  pool: string[],
): DialSchedulerState {
  return changed(s, { statics, staticPool: pool })
}

function poolRemove(s: DialSchedulerState, id: string): DialSchedulerState {
  const entry = s.statics.get(id)
  if (!entry?.inPool) return s
  const pool = [...s.staticPool]
  const idx = pool.indexOf(id)
  pool[idx] = pool[pool.length - 1]!
  pool.pop()
  const statics = new Map(s.statics)
  statics.set(id, { ...entry, inPool: false })
  return withPool(s, statics, pool)
}

/** geth updateStaticPool: put a static entry back into the pool when it passes checkDial. */
function updateStaticPool(s: DialSchedulerState, id: string, conns: DialConns): DialSchedulerState {
  const entry = s.statics.get(id)
  if (!entry || entry.inPool || checkDial(s, entry.node, conns) !== null) return s
  const statics = new Map(s.statics)
  statics.set(id, { ...entry, inPool: true })
  return withPool(s, statics, [...s.staticPool, id])
}

export function addStatic(s: DialSchedulerState, node: Node, conns: DialConns): DialSchedulerState {
  const id = nodeIdHex(node)
  if (s.statics.has(id)) return s
  const statics = new Map(s.statics)
  statics.set(id, { node, inPool: false, resolveDelay: INITIAL_RESOLVE_DELAY_MS, lastResolved: null })
  return updateStaticPool(changed(s, { statics }), id, conns)
}

export function removeStatic(s: DialSchedulerState, id: string): DialSchedulerState {
  if (!s.statics.has(id)) return s
  const out = poolRemove(s, id)
  const statics = new Map(out.statics)
  statics.delete(id)
  return changed(out, { statics })
}

// --- connected peers ---------------------------------------------------------------------------------
// The peer set and the pending inbound set are the supervisor's (DialConns): a peer that was not dialled and is
// no static node changes nothing here (the same state comes back).

/** geth addPeerCh: a dialled peer takes a dial slot; a connected static node leaves the pool. */
export function peerAdded(s: DialSchedulerState, id: string, dialed: boolean): DialSchedulerState {
  return poolRemove(dialed ? changed(s, { dialPeers: s.dialPeers + 1 }) : s, id)
}

/** geth remPeerCh; `conns` without the peer. */
export function peerRemoved(
  s: DialSchedulerState,
  id: string,
  dialed: boolean,
  conns: DialConns,
): DialSchedulerState {
  return updateStaticPool(dialed ? changed(s, { dialPeers: s.dialPeers - 1 }) : s, id, conns)
}

/** geth remPendingCh (SetupConn's deferred inboundCompleted); `conns` without the pending connection. */
export function inboundCompleted(s: DialSchedulerState, id: string, conns: DialConns): DialSchedulerState {
  return updateStaticPool(s, id, conns)
}

// --- starting dials ----------------------------------------------------------------------------------

function startDial(s: DialSchedulerState, task: DialTask, now: number): DialSchedulerState {
  // A static entry must not be started while a dynamic task for the same id runs (geth would run two tasks
  // for one node; here one id is one dial actor): it returns to the pool when this task is done.
  s = poolRemove(s, task.id)
  const history = pmap(s.history).set(task.id, now + DIAL_HISTORY_EXPIRATION_MS)
  const dialing = pmap(s.dialing).set(task.id, task)
  return changed(s, { history, dialing })
}

function xorshift32(x: number): number {
  x ^= x << 13
  x ^= x >>> 17
  x ^= x << 5
  return x >>> 0
}

/** geth dialTask.resolve's throttle: may this static entry be resolved at `now`? */
function resolveAllowed(s: DialSchedulerState, e: StaticEntry, now: number): boolean {
  return s.canResolve && (e.lastResolved === null || now - e.lastResolved >= e.resolveDelay)
}

/**
 * One pass of geth's loop head: start random static dials while slots are free. Returns the started
 * tasks and `demand`, the free slots left for dynamic candidates (0 when none).
 */
export function schedule(
  s: DialSchedulerState,
  now: number,
): { state: DialSchedulerState; started: DialTask[]; demand: number } {
  const started: DialTask[] = []
  let slots = freeDialSlots(s)
  while (slots > 0 && s.staticPool.length > 0) {
    const rng = xorshift32(s.rng)
    const id = s.staticPool[rng % s.staticPool.length]!
    const entry = s.statics.get(id)!
    const task: DialTask = { id, node: entry.node, flag: 'static', mayResolve: resolveAllowed(s, entry, now) }
    s = startDial(poolRemove(changed(s, { rng }), id), task, now)
    started.push(task)
    slots--
  }
  return { state: s, started, demand: Math.max(0, slots) }
}

/** geth `case node := <-nodesCh`: a dynamic candidate is dialed when a slot is free and checkDial passes. */
export function offerCandidate(
  s: DialSchedulerState,
  node: Node,
  now: number,
  conns: DialConns,
): {
  state: DialSchedulerState
  started: DialTask | null
  rejected: DialRejectReason | 'no-free-slot' | null
} {
  if (freeDialSlots(s) <= 0) return { state: s, started: null, rejected: 'no-free-slot' }
  const reason = checkDial(s, node, conns)
  if (reason) return { state: s, started: null, rejected: reason }
  const task: DialTask = { id: nodeIdHex(node), node, flag: 'dynamic', mayResolve: false }
  return { state: startDial(s, task, now), started: task, rejected: null }
}

/** geth `case task := <-d.doneCh` plus the task's resolve bookkeeping (static entries only). */
export function dialDone(
  s: DialSchedulerState,
  id: string,
  now: number,
  conns: DialConns,
  result: DialResult = {},
): DialSchedulerState {
  if (!s.dialing.has(id)) return s
  s = changed(s, { dialing: pmap(s.dialing).delete(id) })
  const entry = s.statics.get(id)
  if (entry && result.resolved !== undefined) {
    const statics = new Map(s.statics)
    statics.set(
      id,
      result.resolved
        ? { ...entry, node: result.resolved, resolveDelay: INITIAL_RESOLVE_DELAY_MS, lastResolved: now }
        : {
            ...entry,
            resolveDelay: Math.min(entry.resolveDelay * 2, MAX_RESOLVE_DELAY_MS),
            lastResolved: now,
          },
    )
    s = changed(s, { statics })
  }
  return updateStaticPool(s, id, conns)
}

/** geth expireHistory: drop entries due at `now` and give their static entries another chance. */
export function expireHistory(s: DialSchedulerState, now: number, conns: DialConns): DialSchedulerState {
  const due: string[] = []
  for (const [id, exp] of s.history) if (exp <= now) due.push(id)
  if (due.length === 0) return s
  let history = pmap(s.history)
  for (const id of due) history = history.delete(id)
  s = changed(s, { history })
  for (const id of due) s = updateStaticPool(s, id, conns)
  return s
}

/** nextHistoryExpiry's answer per history map: the maps are never changed once in a state (a pure memo). */
const expiryMemo = new WeakMap<ReadonlyMap<string, number>, number | undefined>()

/** When the next history entry expires (ms), or undefined when the history is empty. */
export function nextHistoryExpiry(s: DialSchedulerState): number | undefined {
  const h = s.history
  if (h.size === 0) return undefined
  if (expiryMemo.has(h)) return expiryMemo.get(h)
  let next: number | undefined
  for (const exp of h.values()) if (next === undefined || exp < next) next = exp
  expiryMemo.set(h, next)
  return next
}

// --- netrestrict: a tiny CIDR matcher (geth p2p/netutil Netlist) --------------------------------------

/**
 * What checkDial needs of geth's netutil.Netlist: `contains` is false for a missing or unparsable address.
 * actors/discovery/netutil.ts `Netlist` fits; `parseNetRestrict` below is the pure layer's own small one.
 */
export interface NetRestrict {
  contains(ip: string | undefined): boolean
}

interface NetPrefix {
  /** 4 bytes (IPv4) or 16 bytes (IPv6) */
  bytes: Uint8Array
  bits: number
}

function parseIPv4(s: string): Uint8Array | null {
  const parts = s.split('.')
  if (parts.length !== 4) return null
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null
    out[i] = Number(p)
  }
  return out
}

function parseIPv6(s: string): Uint8Array | null {
  const halves = s.split('::')
  if (halves.length > 2) return null
  const groups = (h: string): number[] | null => {
    if (h === '') return []
    const out: number[] = []
    const parts = h.split(':')
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p)
        if (!v4) return null
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(Number.parseInt(p, 16))
      else return null
    }
    return out
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (!head || !tail) return null
  const fill = 8 - head.length - tail.length
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail]
  const out = new Uint8Array(16)
  all.forEach((g, i) => {
    out[2 * i] = g >> 8
    out[2 * i + 1] = g & 0xff
  })
  return out
}

/** Parse an IPv4 or IPv6 address; IPv4-mapped IPv6 is unmapped (geth netutil.IPToAddr). */
function parseIpText(s: string): Uint8Array | null {
  if (s.includes(':')) {
    const v6 = parseIPv6(s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s)
    const mapped = v6?.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff
    return mapped ? v6!.slice(12) : v6
  }
  return parseIPv4(s)
}

/** Parse one CIDR mask ("10.0.0.0/8", "fd00::/8"); throws TypeError when malformed. */
function parseCidr(cidr: string): NetPrefix {
  const slash = cidr.indexOf('/')
  const ip = slash < 0 ? null : parseIpText(cidr.slice(0, slash))
  const bitsText = slash < 0 ? '' : cidr.slice(slash + 1)
  const bits = /^(0|[1-9][0-9]{0,2})$/.test(bitsText) ? Number(bitsText) : -1
  if (!ip || bits < 0 || bits > ip.length * 8) throw new TypeError(`invalid CIDR mask: ${cidr}`)
  return { bytes: ip, bits }
}

/**
 * geth netutil.ParseNetlist: comma-separated CIDR masks ("10.0.0.0/8, fd00::/8"); whitespace and empty
 * entries are ignored; throws TypeError on a malformed mask. IPv4-mapped IPv6 addresses count as IPv4.
 */
export function parseNetRestrict(s: string): NetRestrict {
  const list = s
    .replace(/\s+/g, '')
    .split(',')
    .filter((m) => m !== '')
    .map(parseCidr)
  return { contains: (ip) => netlistContains(list, ip) }
}

function prefixContains(p: NetPrefix, ip: Uint8Array): boolean {
  if (p.bytes.length !== ip.length) return false
  const full = p.bits >> 3
  for (let i = 0; i < full; i++) if (p.bytes[i] !== ip[i]) return false
  const rest = p.bits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (p.bytes[full]! & mask) === (ip[full]! & mask)
}

/** geth Netlist.ContainsAddr: false for a missing or unparsable address. */
function netlistContains(list: readonly NetPrefix[], ip: string | undefined): boolean {
  const addr = ip ? parseIpText(ip) : null
  if (!addr) return false
  return list.some((p) => prefixContains(p, addr))
}
