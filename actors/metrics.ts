// The p2p server's metrics with prom-client, named after geth's p2p/metrics.go meters (geth's Prometheus
// exporter turns `p2p/dials/error/saturated` into `p2p_dials_error_saturated`): peer gauges, dial / serve
// counters, handshake error counters by cause, and ingress / egress bytes counted on the raw sockets (geth
// meteredConn). Injected, never global: pass a prom-client Registry in the server config (DESIGN.md §9).
//
// API
//   createServerMetrics(registry) → ServerMetrics   registers every metric on `registry` (one server per registry)
//   ServerMetrics.peerAdded(inbound) / peerDropped(inbound)   gauges + success counters (geth Server.run)
//   ServerMetrics.dialed() / dialConnectionError() / served()  geth dialMeter / dialConnectionError / serveMeter
//   ServerMetrics.handshakeError(inbound, cause)               geth markDialError / markServeError
//   ServerMetrics.trackSocket(socket)                          its bytesRead / bytesWritten feed p2p_ingress/egress
//   registerTxFetcherMetrics(registry, fetcher)                geth's eth/fetcher/transaction/… meters and gauges,
//                                                              read from the fetcher at each scrape
//   registerDiscoveryMetrics(registry, () => discovery)        geth p2p/discover/metrics.go: discover_ingress /
//                                                              discover_egress (UDP bytes) and discover_bucket_<i>_count
//                                                              (table entries per bucket), read at each scrape
import type { Socket } from 'node:net'
import { Counter, Gauge, type Registry } from 'prom-client'
import { DiscReason } from '../codecs/p2p.ts'
import type { TxFetcher } from '../machines/tx-fetcher.ts'
import type { Discv4 } from './discovery/discv4-types.ts'
import { N_BUCKETS } from './discovery/table.ts'

/** geth's handshake error causes (the meter name suffixes after `p2p/dials/error/`). */
export type HandshakeErrorCause =
  | 'saturated'
  | 'known'
  | 'self'
  | 'useless'
  | 'id_unexpected'
  | 'rlpx_enc'
  | 'rlpx_proto'
  | 'other'

export const HANDSHAKE_ERROR_CAUSES: readonly HandshakeErrorCause[] = [
  'saturated',
  'known',
  'self',
  'useless',
  'id_unexpected',
  'rlpx_enc',
  'rlpx_proto',
  'other',
]

/** geth markDialError's reason switch: DiscReason → cause; null when the reason has no meter of its own. */
export function causeOfReason(reason: number): HandshakeErrorCause | null {
  switch (reason) {
    case DiscReason.TooManyPeers:
      return 'saturated'
    case DiscReason.AlreadyConnected:
      return 'known'
    case DiscReason.Self:
      return 'self'
    case DiscReason.UselessPeer:
      return 'useless'
    case DiscReason.UnexpectedIdentity:
      return 'id_unexpected'
    default:
      return null
  }
}

export interface ServerMetrics {
  readonly registry: Registry
  peerAdded(inbound: boolean): void
  peerDropped(inbound: boolean): void
  dialed(): void
  dialConnectionError(): void
  served(): void
  handshakeError(inbound: boolean, cause: HandshakeErrorCause): void
  trackSocket(socket: Socket): void
}

/** Register the server metrics on `registry`. */
export function createServerMetrics(registry: Registry): ServerMetrics {
  const registers = [registry]
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers })
  const counter = (name: string, help: string) => new Counter({ name, help, registers })
  const peers = gauge('p2p_peers', 'connected peers (geth p2p/peers)')
  const peersInbound = gauge('p2p_peers_inbound', 'connected inbound peers (geth p2p/peers/inbound)')
  const peersOutbound = gauge('p2p_peers_outbound', 'connected dialled peers (geth p2p/peers/outbound)')
  const dials = counter('p2p_dials', 'TCP dial attempts (geth p2p/dials)')
  const dialsSuccess = counter('p2p_dials_success', 'dialled connections that became peers')
  const dialsConnErr = counter('p2p_dials_error_connection', 'dials whose TCP connect failed')
  const serves = counter('p2p_serves', 'inbound connections accepted (geth p2p/serves)')
  const servesSuccess = counter('p2p_serves_success', 'inbound connections that became peers')
  const dialErrors = new Map<HandshakeErrorCause, Counter>()
  const serveErrors = new Map<HandshakeErrorCause, Counter>()
  for (const cause of HANDSHAKE_ERROR_CAUSES) {
    dialErrors.set(cause, counter(`p2p_dials_error_${cause}`, `dial handshake errors: ${cause}`))
    serveErrors.set(cause, counter(`p2p_serves_error_${cause}`, `inbound handshake errors: ${cause}`))
  }

  // Bytes: closed sockets are folded into a running total, live ones are read at scrape time.
  const live = new Set<Socket>()
  let closedIn = 0
  let closedOut = 0
  /** a byte counter scraped from the live sockets plus what closed ones had moved (`closed()`) */
  const byteCounter = (name: string, help: string, of: (s: Socket) => number, closed: () => number) => {
    let reported = 0
    new Counter({
      name,
      help,
      registers,
      collect() {
        let total = closed()
        for (const s of live) total += of(s)
        if (total > reported) this.inc(total - reported)
        reported = total
      },
    })
  }
  byteCounter(
    'p2p_ingress',
    'bytes read from peer sockets (geth p2p/ingress)',
    (s) => s.bytesRead,
    () => closedIn,
  )
  byteCounter(
    'p2p_egress',
    'bytes written to peer sockets (geth p2p/egress)',
    (s) => s.bytesWritten,
    () => closedOut,
  )

  return {
    registry,
    peerAdded(inbound) {
      peers.inc()
      ;(inbound ? peersInbound : peersOutbound).inc()
      ;(inbound ? servesSuccess : dialsSuccess).inc()
    },
    peerDropped(inbound) {
      peers.dec()
      ;(inbound ? peersInbound : peersOutbound).dec()
    },
    dialed: () => dials.inc(),
    dialConnectionError: () => dialsConnErr.inc(),
    served: () => serves.inc(),
    handshakeError(inbound, cause) {
      ;(inbound ? serveErrors : dialErrors).get(cause)?.inc()
    },
    trackSocket(socket) {
      if (live.has(socket)) return
      live.add(socket)
      socket.once('close', () => {
        live.delete(socket)
        closedIn += socket.bytesRead
        closedOut += socket.bytesWritten
      })
    },
  }
}

const TX_FETCHER_METERS: readonly [keyof TxFetcher['totals'], string, string][] = [
  ['announcesIn', 'announces_in', 'announced transaction hashes'],
  ['announcesKnown', 'announces_known', 'announced hashes the pool already had'],
  ['announcesDos', 'announces_dos', "announced hashes beyond a peer's 4096"],
  ['broadcastsIn', 'broadcasts_in', 'transactions received by broadcast'],
  ['requestOut', 'request_out', 'transaction hashes requested'],
  ['requestDone', 'request_done', 'transactions delivered in replies to requests'],
  ['requestTimeout', 'request_timeout', 'requested hashes whose request timed out'],
  ['repliesIn', 'replies_in', 'transactions received in replies'],
]
const TX_FETCHER_GAUGES: readonly [keyof ReturnType<TxFetcher['gauges']>, string, string][] = [
  ['waitingPeers', 'waiting_peers', 'peers with hashes waiting for a broadcast'],
  ['waitingHashes', 'waiting_hashes', 'hashes waiting for a broadcast (500 ms)'],
  ['queueingPeers', 'queueing_peers', 'peers with queued hashes and no request in flight'],
  ['queueingHashes', 'queueing_hashes', 'hashes queued for a request'],
  ['fetchingPeers', 'fetching_peers', 'peers with a request in flight'],
  ['fetchingHashes', 'fetching_hashes', 'hashes being fetched'],
  ['slowPeers', 'slow_peers', 'peers whose request timed out unanswered'],
]

/**
 * geth eth/fetcher/metrics.go for the transaction fetcher (machines/tx-fetcher.ts): its meters as counters
 * (`eth_fetcher_transaction_announces_in`, …) and its gauges, both read from the fetcher when scraped.
 */
export function registerTxFetcherMetrics(registry: Registry, f: Pick<TxFetcher, 'totals' | 'gauges'>): void {
  const registers = [registry]
  const prefix = 'eth_fetcher_transaction_'
  for (const [key, name, help] of TX_FETCHER_METERS) {
    let seen = 0
    new Counter({
      name: prefix + name,
      help: `${help} (geth eth/fetcher/transaction/${name.replace('_', '/')})`,
      registers,
      collect() {
        const v = f.totals[key]
        this.inc(v - seen)
        seen = v
      },
    })
  }
  for (const [key, name, help] of TX_FETCHER_GAUGES)
    new Gauge({
      name: prefix + name,
      help: `${help} (geth eth/fetcher/transaction/${name.replace('_', '/')})`,
      registers,
      collect() {
        this.set(f.gauges()[key])
      },
    })
}

/**
 * geth p2p/discover/metrics.go: the UDP bytes in and out (its metered connection's meters, as counters) and each
 * bucket's entry count (its bucket counters, as gauges), read from the running service at each scrape (nothing
 * while it is not running).
 */
export function registerDiscoveryMetrics(
  registry: Registry,
  discovery: () => Pick<Discv4, 'stats' | 'table'> | undefined,
): void {
  const registers = [registry]
  for (const [name, key] of [
    ['discover_ingress', 'bytesIn'],
    ['discover_egress', 'bytesOut'],
  ] as const) {
    let seen = 0
    new Counter({
      name,
      help: `discovery UDP bytes ${key === 'bytesIn' ? 'received' : 'sent'} (geth ${name.replace('_', '/')})`,
      registers,
      collect() {
        const d = discovery()
        if (d === undefined) return
        const v = d.stats()[key]
        // a new service (a restarted server has a new one) starts from zero again
        this.inc(v >= seen ? v - seen : v)
        seen = v
      },
    })
  }
  for (let i = 0; i < N_BUCKETS; i++)
    new Gauge({
      name: `discover_bucket_${i}_count`,
      help: `discovery table entries in bucket ${i} (geth discover/bucket/${i}/count)`,
      registers,
      collect() {
        this.set(discovery()?.table.bucketLen(i) ?? 0)
      },
    })
}
