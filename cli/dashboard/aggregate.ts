// The devnet dashboard's model (issue: "a local devnet with a live statechart dashboard"): one aggregate over N
// nodes fed by what the public server API shows — peer machine snapshots from XState inspection
// (cli/dashboard/inspect.ts turns `@xstate.snapshot` events into PeerUpdates), geth PeerEvents (`events$`), the
// supervisor's state (`snapshot$`) and polled `stats()` / discovery table sizes. Pure: no sockets or timers;
// the caller passes `now` (ms) everywhere, so tests feed synthetic updates and read counts and tables back.
//
// API
//   const agg = createAggregate({ nodes, peerChart, serverChart, now, lingerMs?, logSize? })
//   agg.nodeInfo(node, {id, enode, name})  agg.serverState(node, value, now)  agg.nodeStats(node, stats)
//   agg.peerUpdate(node, PeerUpdate, now)  agg.peerEvent(node, PeerEvent, now)  agg.prune(now)
//   agg.ethUpdate(node, EthUpdate, now)     eth-peer machine snapshots (machines/eth-peer.machine.ts) → ethCounts
//   agg.full(now) → DashboardState (GET /state.json, the first SSE message)
//   agg.takeDelta(now) → DashboardDelta | undefined (what changed since the last take; undefined if nothing)
// Counts: `counts[path]` = peer actors whose snapshot is in that state path now (`running`,
// `running.waiting`, …); a dropped peer stays `lingerMs` in `dropped` (and in its node's table) before it
// is forgotten. `drops[name]` counts every peer machine that ended, by DiscReason name (codecs/p2p.ts).
import type { PeerEvent } from '../../actors/server-info.ts'
import { DiscReason } from '../../codecs/p2p.ts'
import { type ChartJson, statePaths } from './chart.ts'

/** How long a dropped peer stays visible (in `dropped` and its node's table), ms. */
export const DROPPED_LINGER_MS = 5_000
/** Entries kept in the transition log (and sent at most per delta). */
export const LOG_SIZE = 300
/** Hex characters of a node id shown in tables and logs. */
export const SHORT_ID = 16

/** A peer machine's snapshot as the dashboard reads it (from one `@xstate.snapshot` inspection event). */
export interface PeerUpdate {
  /** unique per actor in its node's actor system (the XState sessionId: child ids are reused) */
  key: string
  /** the child id in the supervisor (`peer:in:3`, `peer:<idHex>`) */
  actor: string
  /** snapshot value ('pendingHandshake', { running: 'waiting' }, …) */
  value: unknown
  /** snapshot status: active | done | stopped | error */
  status: string
  inbound?: boolean
  /** remote node id, hex (known after the ECIES handshake) */
  id?: string
  /** client name and capabilities from the remote Hello */
  name?: string
  caps?: string[]
  /** DiscReason once dropped */
  reason?: number
  requestedByRemote?: boolean
}

export interface NodeRow {
  node: number
  /** node id, first SHORT_ID hex chars */
  id: string
  enode: string
  name: string
  /** the supervisor's state: idle | starting | running | stopping | stopped */
  state: string
  /** peers the supervisor holds (stats().peers) */
  peers: number
  /** of those, the peers past the eth Status handshake (0 when the node runs no eth) */
  eth: number
  /** peer machines in `running`, by direction */
  inbound: number
  outbound: number
  /** peer machines before `running` (handshakes and checkpoints) */
  handshaking: number
  /** RLPx connections open (stats().connections) */
  connections: number
  /** discovery table size */
  table: number
  /** transactions in the node's pool */
  txpool: number
}

export interface PeerRow {
  /** `<node>/<actor key>`, unique across the devnet */
  k: string
  node: number
  actor: string
  /** remote id, first SHORT_ID hex chars ('' before the ECIES handshake) */
  id: string
  inbound: boolean
  /** top-level state */
  state: string
  /** the active leaf states below the top level ('waiting' in running) */
  sub: string[]
  name: string
  caps: string[]
  /** remote TCP endpoint (from the PeerEvent add) */
  remote: string
  /** when the peer entered `state`, ms since the devnet started */
  since: number
  /** DiscReason name once dropped, and whether the remote asked for it */
  reason?: string
  remoteReq?: boolean
}

export interface LogEntry {
  /** sequence number */
  s: number
  /** ms since the devnet started */
  t: number
  /** node */
  n: number
  /** peer: short id or actor id */
  p: string
  /** kind: peer transition, PeerEvent add / drop, supervisor state */
  c: 'tr' | 'add' | 'drop' | 'srv'
  m: string
}

export interface Totals {
  /** PeerEvents add / drop */
  added: number
  removed: number
  /** peer machines started (inspection) */
  connections: number
}

export interface DashboardState {
  t: number
  nodes: NodeRow[]
  peers: PeerRow[]
  /** peer actors per state path */
  counts: Record<string, number>
  /** nodes per supervisor state */
  serverCounts: Record<string, number>
  /** ended peer machines per DiscReason name */
  drops: Record<string, number>
  /** eth-peer actors per state path (an ended one stays `lingerMs` in `dropped`) */
  ethCounts: Record<string, number>
  totals: Totals
  log: LogEntry[]
  chart: { peer: ChartJson; server: ChartJson; eth?: ChartJson }
}

/** An eth-peer machine's snapshot (one `@xstate.snapshot` inspection event of an eth-peer actor). */
export interface EthUpdate {
  /** unique per eth-peer actor (its XState sessionId) */
  key: string
  value: unknown
  status: string
}

/** What changed since the last delta: the state's fields without the chart, plus the peers no longer shown. */
export interface DashboardDelta extends Omit<DashboardState, 'chart'> {
  /** keys of peers no longer shown */
  gone: string[]
}

export interface NodeStats {
  peers: number
  /** eth peers (default 0) */
  eth?: number
  connections: number
  table: number
  /** transactions in the node's pool (default 0) */
  txpool?: number
}

export interface AggregateOptions {
  nodes: number
  peerChart: ChartJson
  serverChart: ChartJson
  /** the eth-peer machine, when the nodes run eth */
  ethChart?: ChartJson
  /** the devnet's start, ms (times are reported relative to it) */
  now: number
  lingerMs?: number
  logSize?: number
}

export interface Aggregate {
  nodeInfo(node: number, info: { id: string; enode: string; name: string }): void
  serverState(node: number, value: unknown, now: number): void
  nodeStats(node: number, stats: NodeStats): void
  peerUpdate(node: number, u: PeerUpdate, now: number): void
  peerEvent(node: number, e: PeerEvent, now: number): void
  ethUpdate(node: number, u: EthUpdate, now: number): void
  prune(now: number): void
  full(now: number): DashboardState
  takeDelta(now: number): DashboardDelta | undefined
}

const REASON_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(DiscReason).map(([name, code]) => [code as number, name]),
)

/** DiscReason name ('Quitting'), or hex for a code geth does not name. */
export function reasonName(reason: number): string {
  return REASON_NAMES.get(reason) ?? `0x${reason.toString(16).padStart(2, '0')}`
}

/** The top-level state of a snapshot value. */
export function topState(value: unknown): string {
  if (typeof value === 'string') return value
  if (value !== null && typeof value === 'object') return Object.keys(value)[0] ?? ''
  return ''
}

interface PeerRec {
  row: PeerRow
  paths: string[]
  /** the full remote id, hex */
  fullId?: string
  /** the machine ended (dropped, or stopped) */
  ended: boolean
  /** when to forget it (dropped / ended), ms */
  expires?: number
}

const bump = (rec: Record<string, number>, key: string, by: number) => {
  const v = (rec[key] ?? 0) + by
  if (v === 0) delete rec[key]
  else rec[key] = v
}

export function createAggregate(opts: AggregateOptions): Aggregate {
  const started = opts.now
  const linger = opts.lingerMs ?? DROPPED_LINGER_MS
  const logSize = opts.logSize ?? LOG_SIZE
  const chart = {
    peer: opts.peerChart,
    server: opts.serverChart,
    ...(opts.ethChart && { eth: opts.ethChart }),
  }
  const nodes: NodeRow[] = Array.from({ length: opts.nodes }, (_, node) => ({
    node,
    id: '',
    enode: '',
    name: '',
    state: 'idle',
    peers: 0,
    eth: 0,
    inbound: 0,
    outbound: 0,
    handshaking: 0,
    connections: 0,
    table: 0,
    txpool: 0,
  }))
  const peers = new Map<string, PeerRec>()
  /** `<node>/<full remote id>` → peer key, for PeerEvents (which name the remote id) */
  const byId = new Map<string, string>()
  const counts: Record<string, number> = {}
  const serverCounts: Record<string, number> = { idle: opts.nodes }
  const drops: Record<string, number> = {}
  const ethCounts: Record<string, number> = {}
  /** eth-peer actors by `<node>/<sessionId>`: their state paths, and when an ended one is forgotten */
  const eths = new Map<string, { node: number; paths: string[]; expires?: number }>()
  const totals: Totals = { added: 0, removed: 0, connections: 0 }
  const log: LogEntry[] = []
  let seq = 0
  let sentSeq = 0
  const dirtyNodes = new Set<number>()
  const dirtyPeers = new Set<string>()
  const gone = new Set<string>()
  let dirty = false

  const rel = (now: number) => Math.max(0, now - started)
  const touchNode = (node: number) => {
    dirtyNodes.add(node)
    dirty = true
  }
  const touchPeer = (k: string) => {
    dirtyPeers.add(k)
    gone.delete(k)
    dirty = true
  }
  const append = (now: number, n: number, p: string, c: LogEntry['c'], m: string) => {
    log.push({ s: ++seq, t: rel(now), n, p, c, m })
    if (log.length > logSize) log.splice(0, log.length - logSize)
    dirty = true
  }
  const validNode = (node: number) => Number.isInteger(node) && node >= 0 && node < nodes.length

  /** a peer's share of its node's inbound / outbound / handshaking counters */
  const share = (row: PeerRow, sign: 1 | -1) => {
    const n = nodes[row.node]!
    if (row.state === 'running') {
      if (row.inbound) n.inbound += sign
      else n.outbound += sign
    } else if (row.state !== 'dropped' && row.state !== '') n.handshaking += sign
  }

  const forget = (k: string) => {
    const rec = peers.get(k)
    if (!rec) return
    peers.delete(k)
    for (const p of rec.paths) bump(counts, p, -1)
    if (!rec.ended) share(rec.row, -1)
    const idKey = `${rec.row.node}/${rec.fullId ?? ''}`
    if (byId.get(idKey) === k) byId.delete(idKey)
    dirtyPeers.delete(k)
    gone.add(k)
    touchNode(rec.row.node)
  }

  const label = (row: PeerRow) => row.id || row.actor

  const forgetEth = (k: string) => {
    const rec = eths.get(k)
    if (!rec) return
    eths.delete(k)
    for (const p of rec.paths) bump(ethCounts, p, -1)
    dirty = true
  }

  return {
    nodeInfo(node, info) {
      if (!validNode(node)) return
      const n = nodes[node]!
      n.id = info.id.slice(0, SHORT_ID)
      n.enode = info.enode
      n.name = info.name
      touchNode(node)
    },

    serverState(node, value, now) {
      if (!validNode(node)) return
      const n = nodes[node]!
      const state = topState(value)
      if (state === n.state) return
      bump(serverCounts, n.state, -1)
      bump(serverCounts, state, 1)
      append(now, node, '', 'srv', `supervisor ${n.state} → ${state}`)
      n.state = state
      touchNode(node)
      if (state === 'stopped') {
        for (const [k, rec] of peers) if (rec.row.node === node) forget(k)
        for (const [k, rec] of eths) if (rec.node === node) forgetEth(k)
      }
    },

    nodeStats(node, stats) {
      if (!validNode(node)) return
      const n = nodes[node]!
      const eth = stats.eth ?? 0
      const txpool = stats.txpool ?? 0
      if (
        n.peers === stats.peers &&
        n.eth === eth &&
        n.connections === stats.connections &&
        n.table === stats.table &&
        n.txpool === txpool
      )
        return
      n.peers = stats.peers
      n.eth = eth
      n.connections = stats.connections
      n.table = stats.table
      n.txpool = txpool
      touchNode(node)
    },

    peerUpdate(node, u, now) {
      if (!validNode(node)) return
      const k = `${node}/${u.key}`
      let rec = peers.get(k)
      const state = topState(u.value)
      const ended = u.status !== 'active'
      if (!rec) {
        if (ended && state !== 'dropped') return
        const row: PeerRow = {
          k,
          node,
          actor: u.actor,
          id: '',
          inbound: u.inbound ?? false,
          state: '',
          sub: [],
          name: '',
          caps: [],
          remote: '',
          since: rel(now),
        }
        rec = { row, paths: [], ended: false }
        peers.set(k, rec)
        totals.connections++
        append(now, node, u.actor, 'tr', `${row.inbound ? 'inbound' : 'outbound'} connection → ${state}`)
      } else if (rec.ended) return
      const row = rec.row
      share(row, -1)
      if (u.id && !rec.fullId) {
        rec.fullId = u.id
        row.id = u.id.slice(0, SHORT_ID)
        byId.set(`${node}/${u.id}`, k)
      }
      if (u.inbound !== undefined) row.inbound = u.inbound
      if (u.name !== undefined) row.name = u.name
      if (u.caps !== undefined) row.caps = u.caps
      const paths = state === '' ? [] : statePaths(u.value)
      for (const p of rec.paths) bump(counts, p, -1)
      for (const p of paths) bump(counts, p, 1)
      rec.paths = paths
      const prev = row.state
      // the active leaves below the top-level state ('waiting'; 'ping.waiting' for a region of a parallel one)
      row.sub = paths
        .filter((p) => p.includes('.') && !paths.some((q) => q.startsWith(`${p}.`)))
        .map((p) => p.slice(p.indexOf('.') + 1))
      row.state = state
      if (prev !== state) {
        row.since = rel(now)
        if (prev !== '') {
          let m = `${prev} → ${state}`
          if (state === 'dropped' && u.reason !== undefined)
            m += ` (${reasonName(u.reason)}${u.requestedByRemote ? ', by remote' : ''})`
          append(now, node, label(row), 'tr', m)
        }
      }
      if (ended) {
        rec.ended = true
        rec.expires = now + linger
        if (u.reason !== undefined) {
          row.reason = reasonName(u.reason)
          row.remoteReq = u.requestedByRemote === true
          bump(drops, row.reason, 1)
        } else if (state === 'dropped') bump(drops, 'unknown', 1)
        if (state !== 'dropped') {
          // stopped without reaching `dropped` (its supervisor stopped): forget it now
          forget(k)
          return
        }
      } else share(row, 1)
      touchPeer(k)
      touchNode(node)
    },

    peerEvent(node, e, now) {
      if (!validNode(node) || (e.type !== 'add' && e.type !== 'drop')) return
      const k = byId.get(`${node}/${e.peer}`)
      const rec = k ? peers.get(k) : undefined
      const short = e.peer.slice(0, SHORT_ID)
      if (e.type === 'add') {
        totals.added++
        if (rec && e.remote) {
          rec.row.remote = e.remote
          touchPeer(rec.row.k)
        }
        append(now, node, short, 'add', `peer added ${e.remote ?? ''}`.trim())
      } else {
        totals.removed++
        append(now, node, short, 'drop', `peer removed${e.error ? `: ${e.error}` : ''}`)
      }
    },

    ethUpdate(node, u, now) {
      if (!validNode(node)) return
      const k = `${node}/${u.key}`
      let rec = eths.get(k)
      if (rec?.expires !== undefined) return
      const state = topState(u.value)
      const ended = u.status !== 'active'
      if (!rec) {
        if (ended && state !== 'dropped') return
        rec = { node, paths: [] }
        eths.set(k, rec)
      }
      const paths = state === '' ? [] : statePaths(u.value)
      for (const p of rec.paths) bump(ethCounts, p, -1)
      for (const p of paths) bump(ethCounts, p, 1)
      rec.paths = paths
      dirty = true
      if (ended) {
        // an eth-peer that ended in `dropped` stays there a while, as peers do; stopped otherwise: gone now
        if (state === 'dropped') rec.expires = now + linger
        else forgetEth(k)
      }
    },

    prune(now) {
      for (const [k, rec] of peers) if (rec.expires !== undefined && rec.expires <= now) forget(k)
      for (const [k, rec] of eths) if (rec.expires !== undefined && rec.expires <= now) forgetEth(k)
    },

    full(now) {
      return {
        t: rel(now),
        nodes: nodes.map((n) => ({ ...n })),
        peers: [...peers.values()].map((r) => ({ ...r.row })),
        counts: { ...counts },
        serverCounts: { ...serverCounts },
        drops: { ...drops },
        ethCounts: { ...ethCounts },
        totals: { ...totals },
        log: [...log],
        chart,
      }
    },

    takeDelta(now) {
      if (!dirty) return undefined
      const newLog = log.filter((e) => e.s > sentSeq)
      sentSeq = seq
      const out: DashboardDelta = {
        t: rel(now),
        nodes: [...dirtyNodes].sort((a, b) => a - b).map((i) => ({ ...nodes[i]! })),
        peers: [...dirtyPeers].flatMap((k) => {
          const r = peers.get(k)
          return r ? [{ ...r.row }] : []
        }),
        gone: [...gone],
        counts: { ...counts },
        serverCounts: { ...serverCounts },
        drops: { ...drops },
        ethCounts: { ...ethCounts },
        totals: { ...totals },
        log: newLog,
      }
      dirtyNodes.clear()
      dirtyPeers.clear()
      gone.clear()
      dirty = false
      return out
    },
  }
}
