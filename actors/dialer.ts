// Glue between the dial machines / supervisor and the world (geth p2p/dial.go tcpDialer, dialTask.dial /
// resolve, and the discovery mix feeding dialScheduler.readNodes): the TCP connect actor (one RLPx connection
// per successful connect, initiator side), the resolve actor (discovery lookup of a static node's endpoint),
// and the candidate source — dynamic dial candidates pulled from Observables only while the supervisor says it
// has free slots (geth reads its node iterator only when `freeDialSlots() > 0`).
//
// API
//   tcpConnect(ip, port, signal?) → Promise<Socket>            connected; destroyed and rejected on abort
//   createConnectLogic({ open(socket, node), onAttempt?, onFailure? })  dial machine `connect` actor: TCP
//       connect, then `open` wraps the socket (RlpxConnection); aborted connects destroy their socket
//   createResolveLogic(resolve?)                              dial machine `resolve` actor: Node with an
//       endpoint, or null (geth: resolving found nothing usable)
//   createCandidateLogic(sources$)                            server machine `candidates` actor
//   filterByRecord(nodes$, requestENR, accept)                 discovered nodes asked for their ENR (16 at a time)
//       and kept when `accept` takes the record (geth eth setupDiscovery: AsyncFilter + eth.NewNodeFilter)
import { connect, type Socket } from 'node:net'
import { filter, from, merge, mergeMap, type Observable, type Subscription } from 'rxjs'
import { fromCallback, fromPromise } from 'xstate'
import type { Node } from '../codecs/node.ts'
import { fromTask } from '../machines/task.ts'

/** The events the server machine's `candidates` actor receives and sends. */
export type CandidateDemand = { type: 'candidates.demand'; count: number }
export type CandidateEvent = { type: 'dial.candidate'; node: Node }

/** A TCP connect in flight: `cancel()` before it settled destroys the socket and rejects with "dial aborted". */
function openTcp(ip: string, port: number): { connected: Promise<Socket>; cancel(): void } {
  let socket: Socket
  try {
    socket = connect({ host: ip, port })
  } catch (e) {
    // node:net throws at once for a port out of range
    return { connected: Promise.reject(e), cancel: noop }
  }
  let cancel = noop
  const connected = new Promise<Socket>((resolve, reject) => {
    const settle = () => {
      socket.removeListener('connect', onConnect)
      socket.removeListener('error', onError)
      cancel = noop
    }
    const onConnect = () => {
      settle()
      resolve(socket)
    }
    const onError = (e: Error) => {
      settle()
      socket.destroy()
      reject(e)
    }
    cancel = () => {
      settle()
      socket.destroy()
      reject(new Error('dial aborted'))
    }
    socket.once('connect', onConnect)
    socket.once('error', onError)
  })
  return { connected, cancel: () => cancel() }
}

/** Open a TCP connection; the signal aborting before or during the connect destroys the socket. */
export function tcpConnect(ip: string, port: number, signal?: AbortSignal): Promise<Socket> {
  if (signal?.aborted) return Promise.reject(new Error('dial aborted'))
  const tcp = openTcp(ip, port)
  if (!signal) return tcp.connected
  const onAbort = () => tcp.cancel()
  signal.addEventListener('abort', onAbort, { once: true })
  return tcp.connected.finally(() => signal.removeEventListener('abort', onAbort))
}

export interface ConnectLogicOptions<C> {
  /** wrap the connected socket (e.g. into an RlpxConnection as initiator towards `node`) */
  open(socket: Socket, node: Node): C
  /**
   * Whether the supervisor took the connection over; one it has not taken by the next macrotask after the
   * connect (its dial task was stopped meanwhile) is closed with `close`.
   */
  adopted?(conn: C): boolean
  close?(conn: C): void
  /** geth dialMeter: every connect attempt */
  onAttempt?(node: Node): void
  /** geth dialConnectionError */
  onFailure?(node: Node, error: unknown): void
}

/**
 * The dial machine's `connect` actor over TCP. A task (machines/task.ts), not a promise actor: no
 * AbortController per dial; stopping the actor cancels the connect in flight, or closes a connection nobody took.
 */
export function createConnectLogic<C>(opts: ConnectLogicOptions<C>) {
  return fromTask<C, { node: Node }>(async ({ input, onStop }) => {
    const { node } = input
    if (!node.ip || !node.tcp) throw new Error('no endpoint to dial')
    opts.onAttempt?.(node)
    const tcp = openTcp(node.ip, node.tcp)
    let stopped = false
    let whenStopped = tcp.cancel
    onStop(() => {
      stopped = true
      whenStopped()
    })
    let socket: Socket
    try {
      socket = await tcp.connected
    } catch (e) {
      opts.onFailure?.(node, e)
      throw e
    }
    const conn = opts.open(socket, node)
    if (stopped) {
      opts.close?.(conn)
      throw new Error('dial aborted')
    }
    // The dial task may end between this task settling and the supervisor taking the connection (stopped
    // before the result is delivered: onStop runs; stopped after: the hand-over never happens). The hand-over
    // is synchronous once the result is delivered, so a connection not taken by the next macrotask is nobody's:
    // close it.
    const orphaned = () => {
      if (opts.adopted && !opts.adopted(conn)) opts.close?.(conn)
    }
    whenStopped = orphaned
    setImmediate(orphaned)
    return conn
  })
}

/**
 * The dial machine's `resolve` actor: asks `resolve` (discovery) for the node's current endpoint; a result
 * without IP and TCP port counts as not found (null), as does a failure.
 */
export function createResolveLogic(resolve?: (node: Node) => Promise<Node>) {
  return fromPromise<Node | null, { node: Node }>(async ({ input }) => {
    if (!resolve) return null
    try {
      const n = await resolve(input.node)
      return n.ip && n.tcp ? n : null
    } catch {
      return null
    }
  })
}

/**
 * The server machine's `candidates` actor: subscribed to the merged sources while the supervisor's demand
 * (free dynamic dial slots) is above zero, unsubscribed at zero. Every node is offered as `dial.candidate`;
 * the supervisor's checkDial decides. Nodes arriving while unsubscribed are never read (the sources' own
 * iterators stop: discovery's randomNodes() runs lookups only while subscribed).
 */
export function createCandidateLogic(sources: readonly Observable<Node>[]) {
  return fromCallback<CandidateDemand, { demand: number }>(({ input, receive, sendBack }) => {
    const source$ = sources.length === 1 ? sources[0]! : merge(...sources)
    let sub: Subscription | undefined
    let stopped = false
    const set = (demand: number) => {
      if (stopped || sources.length === 0) return
      if (demand > 0 && !sub) {
        let live = true
        let ended = false
        let mine: Subscription | undefined
        const end = () => {
          ended = true
          if (mine && sub === mine) sub = undefined
        }
        mine = source$.subscribe({
          next: (node) => {
            if (!stopped && live) sendBack({ type: 'dial.candidate', node } satisfies CandidateEvent)
          },
          error: end,
          complete: end,
        })
        mine.add(() => {
          live = false
        })
        if (!ended) sub = mine
      } else if (demand <= 0 && sub) {
        const s = sub
        sub = undefined
        s.unsubscribe()
      }
    }
    receive((e) => {
      if (e.type === 'candidates.demand') set(e.count)
    })
    set(input.demand)
    return () => {
      stopped = true
      sub?.unsubscribe()
      sub = undefined
    }
  })
}

/** geth eth/backend.go maxParallelENRRequests: ENR requests in flight for the dial candidates. */
export const MAX_PARALLEL_ENR_REQUESTS = 16

/**
 * geth's eth discovery source: each node `nodes$` yields (discv4 random lookups: endpoints without records) is
 * asked for its current record, at most MAX_PARALLEL_ENR_REQUESTS at a time; nodes that do not answer are skipped,
 * and the rest kept when `accept` takes them. Unsubscribing drops the answers still in flight.
 */
export function filterByRecord(
  nodes$: Observable<Node>,
  requestENR: (node: Node) => Promise<Node>,
  accept: (node: Node) => boolean,
): Observable<Node> {
  return nodes$.pipe(
    mergeMap((n) => from(requestENR(n).catch(() => undefined)), MAX_PARALLEL_ENR_REQUESTS),
    filter((n): n is Node => n !== undefined && accept(n)),
  )
}

function noop(): void {}
