// The devnet dashboard wired to N servers through their public API only: an `inspect` callback per node (give it
// to createServer), `events$` and `snapshot$` subscriptions, and `stats()` / discovery table sizes polled every
// second; the aggregate (cli/dashboard/aggregate.ts) is served by cli/dashboard/http.ts. Used by `devp2p-actors devnet`.
//
// API
//   const dash = createDevnetDashboard({ nodes })
//   createServer({ ..., inspect: dash.inspect(i) }); dash.attach(i, srv, eth?, pool?); after start: dash.started(i, srv)
//   createEthProtocols({ ..., inspect: dash.ethInspect(i) })   (eth: the node's eth protocols, for its eth peers)
//   const { url } = await dash.listen(port, { fallback? })   // fallback: on EADDRINUSE take an ephemeral port
//   await dash.close()                                       // HTTP server, SSE responses, timer, subscriptions
import type { Subscription } from 'rxjs'
import type { InspectionEvent } from 'xstate'
import type { EthProtocols } from '../../actors/eth.ts'
import type { Server } from '../../actors/server.ts'
import { ethPeerMachine } from '../../machines/eth-peer.machine.ts'
import { peerMachine } from '../../machines/peer.machine.ts'
import { serverMachine } from '../../machines/server.machine.ts'
import { type Aggregate, createAggregate } from './aggregate.ts'
import { describeMachine } from './chart.ts'
import { type DashboardServer, startDashboardServer } from './http.ts'
import { ethUpdateOf, peerUpdateOf } from './inspect.ts'

/** How often stats() and the discovery table sizes are sampled, ms. */
export const STATS_INTERVAL_MS = 1_000

export interface DevnetDashboard {
  readonly aggregate: Aggregate
  inspect(node: number): (ev: InspectionEvent) => void
  ethInspect(node: number): (ev: InspectionEvent) => void
  attach(node: number, srv: Server, eth?: Pick<EthProtocols, 'peers'>, pool?: { readonly size: number }): void
  started(node: number, srv: Server): void
  listen(port: number, opts?: { fallback?: boolean }): Promise<{ url: string; port: number }>
  close(): Promise<void>
}

export function createDevnetDashboard(opts: { nodes: number; now?: () => number }): DevnetDashboard {
  const now = opts.now ?? Date.now
  const aggregate = createAggregate({
    nodes: opts.nodes,
    peerChart: describeMachine(peerMachine),
    serverChart: describeMachine(serverMachine),
    ethChart: describeMachine(ethPeerMachine),
    now: now(),
  })
  const servers = new Map<number, Server>()
  const eths = new Map<number, Pick<EthProtocols, 'peers'>>()
  const pools = new Map<number, { readonly size: number }>()
  const subs: Subscription[] = []
  let http: DashboardServer | undefined
  let closed = false

  const sample = () => {
    for (const [i, srv] of servers) {
      const s = srv.stats()
      aggregate.nodeStats(i, {
        peers: s.peers,
        eth: eths.get(i)?.peers().length ?? 0,
        connections: s.connections,
        table: srv.discovery?.table.len() ?? 0,
        txpool: pools.get(i)?.size ?? 0,
      })
    }
  }
  const timer = setInterval(sample, STATS_INTERVAL_MS)

  /** An inspect callback: snapshots read by `of`, handed to `apply`; it never disturbs the inspected actors. */
  const inspector =
    <U>(of: (ev: InspectionEvent) => U | undefined, apply: (u: U) => void) =>
    (ev: InspectionEvent) => {
      if (closed || ev.type !== '@xstate.snapshot') return
      try {
        const u = of(ev)
        if (u) apply(u)
      } catch {
        // the dashboard must never disturb a node's actors
      }
    }

  return {
    aggregate,
    inspect: (node) => inspector(peerUpdateOf, (u) => aggregate.peerUpdate(node, u, now())),
    ethInspect: (node) => inspector(ethUpdateOf, (u) => aggregate.ethUpdate(node, u, now())),
    attach(node, srv, eth, pool) {
      servers.set(node, srv)
      if (eth) eths.set(node, eth)
      if (pool) pools.set(node, pool)
      subs.push(
        srv.snapshot$.subscribe((s) => aggregate.serverState(node, s.value, now())),
        srv.events$.subscribe((e) => aggregate.peerEvent(node, e, now())),
      )
    },
    started(node, srv) {
      const info = srv.nodeInfo()
      aggregate.nodeInfo(node, { id: info.id, enode: info.enode, name: info.name })
      sample()
    },
    async listen(port, o = {}) {
      try {
        http = await startDashboardServer({ aggregate, port, now })
      } catch (e) {
        if (!o.fallback || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e
        http = await startDashboardServer({ aggregate, port: 0, now })
      }
      return { url: http.url, port: http.port }
    },
    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      sample()
      for (const s of subs) s.unsubscribe()
      await http?.close()
    },
  }
}
