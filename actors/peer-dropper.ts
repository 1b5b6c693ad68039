// geth's peer dropper (eth/dropper.go) over a running server: a timer every 3–7 minutes (uniform, unref'd) asks
// machines/peer-dropper.ts which peer to drop while the pools are full, and disconnects it with DiscUselessPeer, as
// geth's eth backend does for an eth node; nothing is dropped while `syncing()` (geth: until the node is synced).
// A peer's age comes from the server's `add` events (peers already connected when the dropper starts count from
// then). Metrics on the given registry, named after geth's meters: eth_dropper_inbound / _outbound (peers dropped)
// and eth_dropper_skipped (a try that found nothing to drop).
//
// API
//   startPeerDropper(srv, { maxPeers, dialRatio?, noDial?, syncing?, metrics?, logger?, random?, now?, times? })
//     → { tick(): boolean (try once now: whether a peer was dropped), stop() }
import { Counter, type Registry } from 'prom-client'
import { bytesToHex } from '../codecs/bytes.ts'
import { DiscReason } from '../codecs/p2p.ts'
import { maxDialedConns, maxInboundConns } from '../machines/checkpoints.ts'
import { type DropCandidate, nextDropDelay, PEER_DROP, pickPeerToDrop } from '../machines/peer-dropper.ts'
import type { Server, ServerLogger } from './server-info.ts'

export interface PeerDropperOptions {
  /** the server's maxPeers / dialRatio / noDial: they give the two pools (geth MaxDialedConns, MaxInboundConns) */
  maxPeers: number
  dialRatio?: number
  noDial?: boolean
  /** geth's syncing func: no drops while it returns true. Default: never syncing */
  syncing?: () => boolean
  metrics?: Registry
  logger?: Pick<ServerLogger, 'debug'>
  random?: () => number
  now?: () => number
  /** geth's constants (tests shorten them) */
  times?: Partial<typeof PEER_DROP>
}

export interface PeerDropper {
  /** try once now (as the timer does): whether a peer was dropped */
  tick(): boolean
  stop(): void
}

export function startPeerDropper(srv: Server, opts: PeerDropperOptions): PeerDropper {
  const times = { ...PEER_DROP, ...opts.times }
  const random = opts.random ?? Math.random
  const now = opts.now ?? (() => performance.now())
  const syncing = opts.syncing ?? (() => false)
  const pools = { maxDialed: maxDialedConns(opts), maxInbound: maxInboundConns(opts) }
  const counter = (name: string, help: string) =>
    opts.metrics && new Counter({ name, help, registers: [opts.metrics] })
  const droppedInbound = counter(
    'eth_dropper_inbound',
    'inbound peers dropped to make room (geth eth/dropper/inbound)',
  )
  const droppedOutbound = counter(
    'eth_dropper_outbound',
    'dialled peers dropped to make room (geth eth/dropper/outbound)',
  )
  const skipped = counter(
    'eth_dropper_skipped',
    'drop tries that found no peer to drop (geth eth/dropper/skipped)',
  )

  // when each peer was added
  const since = new Map<string, number>()
  const start = now()
  for (const p of srv.peersInfo()) since.set(p.id, start)
  const sub = srv.events$.subscribe((e) => {
    if (e.type === 'add') since.set(e.peer, now())
    else if (e.type === 'drop') since.delete(e.peer)
  })

  const tick = (): boolean => {
    const t = now()
    const peers = srv.peersInfo().map(
      (p): DropCandidate => ({
        id: p.id,
        inbound: p.network.inbound,
        trusted: p.network.trusted,
        static: p.network.static,
        since: since.get(p.id) ?? t,
      }),
    )
    const victim = pickPeerToDrop(peers, pools, t, random, times)
    const handle = victim && srv.peers().find((h) => bytesToHex(h.id) === victim.id)
    if (!victim || !handle) {
      skipped?.inc()
      return false
    }
    opts.logger?.debug(
      { id: victim.id, inbound: victim.inbound, duration: Math.round(t - victim.since), peers: peers.length },
      'Dropping random peer',
    )
    handle.disconnect(DiscReason.UselessPeer)
    ;(victim.inbound ? droppedInbound : droppedOutbound)?.inc()
    return true
  }

  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  const arm = () => {
    if (stopped) return
    timer = setTimeout(
      () => {
        if (!syncing()) tick()
        arm()
      },
      nextDropDelay(random, times.intervalMinMs, times.intervalMaxMs),
    )
    timer.unref()
  }
  arm()
  return {
    tick,
    stop: () => {
      stopped = true
      clearTimeout(timer)
      timer = undefined
      sub.unsubscribe()
      since.clear()
    },
  }
}
