// Scenario-round runner for the pure dial scheduler, after geth p2p/dial_test.go runDialTest: each round
// applies peer-set updates, scheduler updates and discovered nodes, completes dials, then collects the
// dials the scheduler starts; between rounds the clock advances 16 s and the history expires. A dial task
// is emulated as the dial machine runs it: static nodes without an address are resolved first (when the
// backoff allows), and a failed static dial is resolved once more and redialled when found.
import { hexToBytes } from '../../../codecs/bytes.ts'
import type { Node } from '../../../codecs/node.ts'
import {
  addStatic,
  createDialScheduler,
  type DialConns,
  type DialResult,
  type DialSchedulerConfig,
  type DialSchedulerState,
  type DialTask,
  dialDone,
  expireHistory,
  inboundCompleted,
  nodeIdHex,
  offerCandidate,
  peerAdded,
  peerRemoved,
  removeStatic,
  schedule,
} from '../../../machines/dial-scheduler.ts'

/** geth's uintID: a node id with `n` big-endian in its first two bytes. */
export function uintId(n: number): string {
  return n.toString(16).padStart(4, '0') + '00'.repeat(30)
}

/** geth's newNode(id, "ip:port"); "" → a node without an endpoint. */
export function newNode(n: number, addr = ''): Node {
  const node: Node = { id: hexToBytes(uintId(n)), pubkey: new Uint8Array(64) }
  if (addr) {
    const i = addr.lastIndexOf(':')
    node.ip = addr.slice(0, i)
    node.tcp = Number(addr.slice(i + 1))
    node.udp = node.tcp
  }
  return node
}

export type Update =
  | { addStatic: Node }
  | { removeStatic: number }
  | { inboundPending: number }
  | { inboundCompleted: number }

export interface Round {
  peersAdded?: { node: Node; flag: 'static' | 'dynamic' | 'inbound' }[]
  peersRemoved?: number[]
  update?: Update[]
  discovered?: Node[]
  succeeded?: number[]
  failed?: number[]
  /** answers of the resolver this round; every resolve call must have an entry (geth wantResolves) */
  resolves?: Map<number, Node | null>
  /** dials started this round, as "id@ip:port" ("id@" without an endpoint) */
  wantNewDials?: string[]
  /** clock advance after this round (default 16 s, as geth's runner) */
  advance?: number
}

interface RunningTask {
  task: DialTask
  resolvedThisRun: boolean
  result: DialResult
}

const label = (n: Node) =>
  `${Number.parseInt(nodeIdHex(n).slice(0, 4), 16)}@${n.ip ? `${n.ip}:${n.tcp}` : ''}`

export interface RoundReport {
  dials: string[]
  resolveCalls: number[]
  state: DialSchedulerState
}

export function runDialTest(
  config: Omit<DialSchedulerConfig, 'self'> & { self?: string },
  rounds: Round[],
): RoundReport[] {
  let s = createDialScheduler({ self: uintId(0xeeee), canResolve: true, ...config })
  let now = 0
  const buffer: Node[] = []
  const peers = new Map<string, boolean>() // id → dialed
  const pending = new Set<string>() // pending inbound ids
  // the server's connections, as the scheduler asks for them (always as they are after the change being made)
  const conns: DialConns = { connected: (id) => peers.has(id), pendingInbound: (id) => pending.has(id) }
  const tasks = new Map<string, RunningTask>()
  const reports: RoundReport[] = []

  for (const [i, round] of rounds.entries()) {
    const dials: string[] = []
    const resolveCalls: number[] = []
    const resolve = (task: DialTask): Node | null => {
      const n = Number.parseInt(task.id.slice(0, 4), 16)
      resolveCalls.push(n)
      if (!round.resolves?.has(n)) throw new Error(`round ${i}: unexpected resolve of ${n}`)
      return round.resolves.get(n) ?? null
    }
    const finish = (id: string) => {
      const t = tasks.get(id)!
      tasks.delete(id)
      s = dialDone(s, id, now, conns, t.result)
    }
    const launch = (task: DialTask) => {
      const rt: RunningTask = { task, resolvedThisRun: false, result: {} }
      tasks.set(task.id, rt)
      if (!task.node.ip) {
        if (!task.mayResolve) return finish(task.id)
        const r = resolve(task)
        rt.resolvedThisRun = true
        rt.result = { resolved: r }
        if (!r) return finish(task.id)
        rt.task = { ...task, node: r }
      }
      dials.push(label(rt.task.node))
    }
    const pump = () => {
      for (;;) {
        const out = schedule(s, now)
        s = out.state
        out.started.forEach(launch)
        if (out.demand <= 0 || buffer.length === 0) return
        const o = offerCandidate(s, buffer.shift()!, now, conns)
        s = o.state
        if (o.started) launch(o.started)
      }
    }

    for (const c of round.peersAdded ?? []) {
      const id = nodeIdHex(c.node)
      if (peers.has(id)) throw new Error(`round ${i}: peer ${id} already connected`)
      peers.set(id, c.flag !== 'inbound')
      s = peerAdded(s, id, c.flag !== 'inbound')
    }
    for (const n of round.peersRemoved ?? []) {
      const id = uintId(n)
      if (!peers.has(id)) throw new Error(`round ${i}: can't remove non-existent peer ${n}`)
      const dialed = peers.get(id)!
      peers.delete(id)
      s = peerRemoved(s, id, dialed, conns)
    }
    for (const u of round.update ?? []) {
      if ('addStatic' in u) s = addStatic(s, u.addStatic, conns)
      else if ('removeStatic' in u) s = removeStatic(s, uintId(u.removeStatic))
      else if ('inboundPending' in u) pending.add(uintId(u.inboundPending))
      else {
        pending.delete(uintId(u.inboundCompleted))
        s = inboundCompleted(s, uintId(u.inboundCompleted), conns)
      }
    }
    buffer.push(...(round.discovered ?? []))
    pump()
    for (const n of round.succeeded ?? []) {
      const id = uintId(n)
      if (!tasks.has(id)) throw new Error(`round ${i}: can't complete dial to ${n}`)
      peers.set(id, true)
      s = peerAdded(s, id, true)
      finish(id)
      pump()
    }
    for (const n of round.failed ?? []) {
      const id = uintId(n)
      const rt = tasks.get(id)
      if (!rt) throw new Error(`round ${i}: can't complete dial to ${n}`)
      if (rt.task.flag === 'static' && rt.task.mayResolve && !rt.resolvedThisRun) {
        const r = resolve(rt.task)
        rt.resolvedThisRun = true
        rt.result = { resolved: r }
        if (r) {
          rt.task = { ...rt.task, node: r }
          dials.push(label(r))
          continue
        }
      }
      finish(id)
      pump()
    }
    pump()
    reports.push({ dials, resolveCalls, state: s })
    now += round.advance ?? 16_000
    s = expireHistory(s, now, conns)
  }
  return reports
}
