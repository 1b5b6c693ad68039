// The statechart the dashboard draws, read from a machine definition (DESIGN.md §8: "our dashboard draws machines
// from the machine itself"): states in document order with their type and nested regions, and the transitions
// between them with readable labels. Pure: walks XState v5 StateNodes (`.states`, `.transitions`, `.always`), so
// the page shows machines/peer.machine.ts and machines/server.machine.ts exactly as they are defined.
//
// API
//   describeMachine(machine) → ChartJson { id, states: ChartState[], edges: ChartEdge[] }
//   statePaths(value)        → every active state path of a snapshot value ('running', 'running.waiting', …)
//   edgeLabel(eventType)     → 'encHandshake done', 'after handshakeTimeout', 'checkpoint.accepted', …

/** One state: `path` is dot-joined from the machine root (`running.waiting`). */
export interface ChartState {
  path: string
  key: string
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history'
  /** child states (regions of a parallel state, sub-states of a compound one) */
  states: ChartState[]
}

/** A transition between states; `from` is '' for a transition declared on the machine root (any state). */
export interface ChartEdge {
  from: string
  to: string
  label: string
}

export interface ChartJson {
  id: string
  states: ChartState[]
  edges: ChartEdge[]
}

/** The slice of an XState v5 StateNode this module reads. */
interface StateNodeLike {
  key: string
  path: string[]
  type: ChartState['type']
  states: Record<string, StateNodeLike>
  transitions: Map<string, { target?: readonly StateNodeLike[] }[]>
  always?: { target?: readonly StateNodeLike[] }[]
}

/** A readable label for an XState event type (internal done/error/after events shortened). */
export function edgeLabel(eventType: string): string {
  let m = /^xstate\.done\.actor\.(.+)$/.exec(eventType)
  if (m) return `${m[1]} done`
  m = /^xstate\.error\.actor\.(.+)$/.exec(eventType)
  if (m) return `${m[1]} error`
  m = /^xstate\.after\.([^.]+)\./.exec(eventType)
  if (m) return `after ${m[1]}`
  return eventType === '' ? 'always' : eventType
}

export function describeMachine(machine: { id: string; root: unknown }): ChartJson {
  const root = machine.root as StateNodeLike
  const edges: ChartEdge[] = []
  const seen = new Set<string>()
  const addEdges = (sn: StateNodeLike) => {
    const from = sn.path.join('.')
    const add = (eventType: string, targets: readonly StateNodeLike[] | undefined) => {
      for (const t of targets ?? []) {
        const edge = { from, to: t.path.join('.'), label: edgeLabel(eventType) }
        const k = `${edge.from}\n${edge.to}\n${edge.label}`
        if (seen.has(k)) continue
        seen.add(k)
        edges.push(edge)
      }
    }
    for (const [eventType, defs] of sn.transitions) for (const d of defs) add(eventType, d.target)
    for (const d of sn.always ?? []) add('', d.target)
  }
  const walk = (sn: StateNodeLike): ChartState => {
    addEdges(sn)
    return {
      path: sn.path.join('.'),
      key: sn.key,
      type: sn.type,
      states: Object.values(sn.states).map(walk),
    }
  }
  addEdges(root)
  return { id: machine.id, states: Object.values(root.states).map(walk), edges }
}

/** Every active state path of a snapshot value: 'a' → ['a']; {running: {ping: 'waiting'}} → ['running', 'running.ping', 'running.ping.waiting']. */
export function statePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value]
  if (value === null || typeof value !== 'object') return []
  const out: string[] = []
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out.push(prefix + k)
    out.push(...statePaths(v, `${prefix}${k}.`))
  }
  return out
}
