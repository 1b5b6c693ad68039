// geth's transaction fetcher (eth/fetcher/tx_fetcher.go, v1.17.0) as pure state: announced transaction hashes
// wait 500 ms for the transaction to arrive by broadcast, then are requested (GetPooledTransactions) from one
// announcer at a time — at most 256 hashes or about 128 KiB of announced size per request, one request in flight
// per peer; a request not answered within 5 s is handed to another announcer, and a delivery whose type or size
// (beyond 8 bytes) differs from what a peer announced drops that peer. No timers or I/O of its own: every call
// takes the time, effects go out through `TxFetcherEffects`, and `nextDeadline()` says when `tick` must run next
// (actors/eth.ts keeps the one timer).
//
// API
//   new TxFetcher({ has(hashHex), fetch(peer, hashes), dropPeer(peer, why) })
//   .notify(peer, announced[], now)      NewPooledTransactionHashes (geth Notify); known-to-pool hashes skipped
//   .delivered(peer, txs[], direct, now) a Transactions broadcast (direct false) or a PooledTransactions reply
//                                        (direct true) reached the pool (geth Enqueue's cleanup)
//   .dropPeer(peer, now)                 the peer left (geth Drop)
//   .tick(now)                           waits and requests whose time ran out
//   .nextDeadline()                      when tick must run next, or undefined
//   .gauges() / .totals                  geth's fetcher gauges and meters (eth/fetcher/transaction/…): waiting,
//                                        queued and fetching peers and hashes, slow peers; what came and went
// Peers are strings (node id hex); hashes are lowercase hex.

/** geth maxTxAnnounces: unique hashes a peer may have waiting or queued. */
export const TX_FETCHER_MAX_ANNOUNCES = 4096
/** geth maxTxRetrievals: hashes per GetPooledTransactions request. */
export const TX_FETCHER_MAX_RETRIEVALS = 256
/** geth maxTxRetrievalSize: announced bytes per request (the request stops once it reaches this). */
export const TX_FETCHER_MAX_RETRIEVAL_SIZE = 128 * 1024
/** geth txArriveTimeout: how long an announced transaction may take to arrive by broadcast before it is fetched. */
export const TX_ARRIVE_TIMEOUT_MS = 500
/** geth txGatherSlack: waits and timeouts this close to running out are handled together. */
export const TX_GATHER_SLACK_MS = 100
/** geth txFetchTimeout: time for a peer to answer a request before its hashes go to other announcers. */
export const TX_FETCH_TIMEOUT_MS = 5000
/** geth: a delivered size may differ from the announced one by this many bytes (RLP vs consensus encoding). */
export const TX_SIZE_SLACK = 8
/** geth types.BlobTxType: announced-only transactions, fetched without the arrival wait. */
const BLOB_TX_TYPE = 3

export interface AnnouncedTx {
  hash: string
  type: number
  size: number
}

export interface TxFetcherEffects {
  /** whether the pool already has the transaction (geth validateMeta: txpool.Has) */
  has(hash: string): boolean
  /** send GetPooledTransactions for `hashes` to `peer`; the answer comes back through delivered(…, true) */
  fetch(peer: string, hashes: string[]): void
  /** the peer announced other metadata than it delivered (geth h.removePeer: DiscUselessPeer) */
  dropPeer(peer: string, why: string): void
}

interface Meta {
  type: number
  size: number
  /** announcement order (geth txMetadataWithSeq): a peer's queue is fetched oldest first */
  seq: number
}

interface Request {
  /** null once timed out: kept as dangling until answered or dropped (geth) */
  hashes: string[] | null
  time: number
  /** hashes someone else delivered meanwhile */
  stolen?: Set<string>
}

const metaMap = (m: Map<string, Map<string, Meta>>, peer: string): Map<string, Meta> => {
  const x = m.get(peer)
  if (x) return x
  const fresh = new Map<string, Meta>()
  m.set(peer, fresh)
  return fresh
}
/** delete k from the set (or map) at m[key], and the entry once empty */
const deleteIn = <K>(m: Map<K, Set<string> | Map<string, unknown>>, key: K, k: string): void => {
  const s = m.get(key)
  if (!s) return
  s.delete(k)
  if (s.size === 0) m.delete(key)
}

export class TxFetcher {
  // stage 1: waiting for the transaction to arrive by broadcast
  private readonly waitlist = new Map<string, Set<string>>()
  private readonly waittime = new Map<string, number>()
  private readonly waitslots = new Map<string, Map<string, Meta>>()
  // stage 2: queued for retrieval
  private readonly announces = new Map<string, Map<string, Meta>>()
  private readonly announced = new Map<string, Set<string>>()
  // stage 3: being fetched
  private readonly fetching = new Map<string, string>()
  private readonly alternates = new Map<string, Set<string>>()
  private readonly requests = new Map<string, Request>()
  private seq = 0
  /** geth's fetcher meters (eth/fetcher/transaction/…) as running totals */
  readonly totals = {
    /** announces/in: announced hashes */
    announcesIn: 0,
    /** announces/known: announced hashes the pool already had */
    announcesKnown: 0,
    /** announces/dos: announced hashes over a peer's 4096 */
    announcesDos: 0,
    /** broadcasts/in: transactions that came by broadcast */
    broadcastsIn: 0,
    /** request/out: hashes requested */
    requestOut: 0,
    /** request/done: hashes of answered requests */
    requestDone: 0,
    /** request/timeout: hashes of requests that timed out */
    requestTimeout: 0,
    /** replies/in: transactions that came in replies */
    repliesIn: 0,
  }

  constructor(private readonly fx: TxFetcherEffects) {}

  notify(peer: string, txs: readonly AnnouncedTx[], now: number): void {
    this.totals.announcesIn += txs.length
    const fresh = txs.filter((t) => !this.fx.has(t.hash))
    this.totals.announcesKnown += txs.length - fresh.length
    if (fresh.length === 0) return
    const used = (this.waitslots.get(peer)?.size ?? 0) + (this.announces.get(peer)?.size ?? 0)
    const room = Math.max(0, TX_FETCHER_MAX_ANNOUNCES - used)
    this.totals.announcesDos += Math.max(0, fresh.length - room)
    if (room === 0) return
    const list = fresh.slice(0, room)
    const oldPeer = this.announces.has(peer)
    let blob = false
    for (const t of list) {
      const meta: Meta = { type: t.type, size: t.size, seq: this.seq++ }
      const h = t.hash
      const alt = this.alternates.get(h) ?? this.announced.get(h)
      if (alt) {
        // downloading or queued from another peer: this one is an alternative source
        alt.add(peer)
        metaMap(this.announces, peer).set(h, meta)
        continue
      }
      const waiting = this.waitlist.get(h)
      if (waiting) {
        // geth ignores a repeated announcement from the same peer (no flip-flopping metadata)
        if (waiting.has(peer)) continue
        waiting.add(peer)
        metaMap(this.waitslots, peer).set(h, meta)
        continue
      }
      this.waitlist.set(h, new Set([peer]))
      // blob transactions are never broadcast: no arrival wait
      if (t.type === BLOB_TX_TYPE) blob = true
      this.waittime.set(h, t.type === BLOB_TX_TYPE ? now - TX_ARRIVE_TIMEOUT_MS : now)
      metaMap(this.waitslots, peer).set(h, meta)
    }
    // blob transactions expire at once (other waits run out in tick); a new peer that announced something
    // already queued may be asked now
    if (blob) this.expireWaits(now)
    if (!oldPeer && (this.announces.get(peer)?.size ?? 0) > 0) this.schedule(now, [peer])
  }

  delivered(peer: string, txs: readonly AnnouncedTx[], direct: boolean, now: number): void {
    if (direct) this.totals.repliesIn += txs.length
    else this.totals.broadcastsIn += txs.length
    for (const t of txs) {
      const h = t.hash
      if (this.waitlist.has(h)) {
        // (deleting the entry being visited is safe in a Map iteration)
        for (const [p, slots] of this.waitslots) {
          this.checkMeta(p, slots.get(h), t)
          deleteIn(this.waitslots, p, h)
        }
        this.waitlist.delete(h)
        this.waittime.delete(h)
        continue
      }
      for (const [p, queue] of this.announces) {
        this.checkMeta(p, queue.get(h), t)
        deleteIn(this.announces, p, h)
      }
      this.announced.delete(h)
      this.alternates.delete(h)
      const origin = this.fetching.get(h)
      if (origin !== undefined && (origin !== peer || !direct)) {
        const req = this.requests.get(origin)
        if (req) {
          req.stolen ??= new Set()
          req.stolen.add(h)
        }
      }
      this.fetching.delete(h)
    }
    if (!direct) return
    const req = this.requests.get(peer)
    // a reply to no request of ours: the eth layer's tracker refuses those before they get here
    if (!req) return
    this.requests.delete(peer)
    const asked = req.hashes ?? []
    this.totals.requestDone += txs.length
    const got = new Set(txs.map((t) => t.hash))
    // geth: hashes before the last delivered one were left out on purpose (the peer lacks them); those after it
    // may not have fit, so the peer stays an announcer for them. Nothing delivered: all count as missing.
    let cutoff = asked.length
    asked.forEach((h, i) => {
      if (got.has(h)) cutoff = i
    })
    asked.forEach((h, i) => {
      if (req.stolen?.has(h) || got.has(h)) return
      if (i < cutoff) {
        deleteIn(this.alternates, h, peer)
        deleteIn(this.announces, peer, h)
      }
      const alt = this.alternates.get(h)
      if (alt && alt.size > 0) this.announced.set(h, alt)
      this.alternates.delete(h)
      this.fetching.delete(h)
    })
    this.schedule(now)
  }

  dropPeer(peer: string, now: number): void {
    for (const h of this.waitslots.get(peer)?.keys() ?? []) {
      deleteIn(this.waitlist, h, peer)
      if (!this.waitlist.has(h)) this.waittime.delete(h)
    }
    this.waitslots.delete(peer)
    const req = this.requests.get(peer)
    if (req) {
      for (const h of req.hashes ?? []) {
        if (req.stolen?.has(h)) continue
        deleteIn(this.alternates, h, peer)
        const alt = this.alternates.get(h)
        if (alt) this.announced.set(h, alt)
        this.alternates.delete(h)
        this.fetching.delete(h)
      }
      this.requests.delete(peer)
    }
    for (const h of this.announces.get(peer)?.keys() ?? []) {
      deleteIn(this.announced, h, peer)
      deleteIn(this.alternates, h, peer)
    }
    this.announces.delete(peer)
    if (req) this.schedule(now)
  }

  tick(now: number): void {
    this.expireWaits(now)
    let timedOut = false
    for (const [peer, req] of this.requests) {
      if (req.hashes === null || now - req.time + TX_GATHER_SLACK_MS <= TX_FETCH_TIMEOUT_MS) continue
      timedOut = true
      this.totals.requestTimeout += req.hashes.length
      // hand the undelivered hashes back to the queue, without this peer
      for (const h of req.hashes) {
        if (req.stolen?.has(h)) continue
        const alt = this.alternates.get(h)
        if (alt) this.announced.set(h, alt)
        deleteIn(this.announced, h, peer)
        deleteIn(this.announces, peer, h)
        this.alternates.delete(h)
        this.fetching.delete(h)
      }
      req.hashes = null
    }
    if (timedOut) this.schedule(now)
  }

  nextDeadline(): number | undefined {
    let at: number | undefined
    for (const t of this.waittime.values())
      if (at === undefined || t + TX_ARRIVE_TIMEOUT_MS < at) at = t + TX_ARRIVE_TIMEOUT_MS
    for (const r of this.requests.values())
      if (r.hashes !== null && (at === undefined || r.time + TX_FETCH_TIMEOUT_MS < at))
        at = r.time + TX_FETCH_TIMEOUT_MS
    return at
  }

  /** geth's fetcher gauges (eth/fetcher/transaction/{waiting,queueing,fetching}/{peers,hashes}, slow/peers) */
  gauges(): Record<
    | 'waitingPeers'
    | 'waitingHashes'
    | 'queueingPeers'
    | 'queueingHashes'
    | 'fetchingPeers'
    | 'fetchingHashes'
    | 'slowPeers',
    number
  > {
    let slow = 0
    for (const r of this.requests.values()) if (r.hashes === null) slow++
    return {
      waitingPeers: this.waitslots.size,
      waitingHashes: this.waitlist.size,
      queueingPeers: this.announces.size - this.requests.size,
      queueingHashes: this.announced.size,
      fetchingPeers: this.requests.size,
      fetchingHashes: this.fetching.size,
      slowPeers: slow,
    }
  }

  private checkMeta(peer: string, meta: Meta | undefined, got: AnnouncedTx): void {
    if (!meta) return
    if (meta.type !== got.type)
      this.fx.dropPeer(
        peer,
        `announced transaction type mismatch: ${got.hash} type ${got.type}, announced ${meta.type}`,
      )
    else if (Math.abs(meta.size - got.size) > TX_SIZE_SLACK)
      this.fx.dropPeer(
        peer,
        `announced transaction size mismatch: ${got.hash} size ${got.size}, announced ${meta.size}`,
      )
  }

  /** geth's waitTrigger: expired waits move to the retrieval queues, and their announcers are asked */
  private expireWaits(now: number): void {
    const actives = new Set<string>()
    for (const [h, t] of this.waittime) {
      if (now - t + TX_GATHER_SLACK_MS <= TX_ARRIVE_TIMEOUT_MS) continue
      const peers = this.waitlist.get(h)!
      this.announced.set(h, peers)
      for (const p of peers) {
        const meta = this.waitslots.get(p)?.get(h)
        if (meta) metaMap(this.announces, p).set(h, meta)
        deleteIn(this.waitslots, p, h)
        actives.add(p)
      }
      this.waittime.delete(h)
      this.waitlist.delete(h)
    }
    if (actives.size > 0) this.schedule(now, actives)
  }

  /** geth scheduleFetches: one request per idle peer (of `peers`, default all with a queue) */
  private schedule(now: number, peers: Iterable<string> = this.announces.keys()): void {
    for (const peer of peers) {
      if (this.requests.has(peer)) continue
      const queue = this.announces.get(peer)
      if (!queue || queue.size === 0) continue
      const hashes: string[] = []
      let bytes = 0
      for (const [h, meta] of [...queue].sort((a, b) => a[1].seq - b[1].seq)) {
        if (this.fetching.has(h)) continue
        this.fetching.set(h, peer)
        this.alternates.set(h, this.announced.get(h) ?? new Set([peer]))
        this.announced.delete(h)
        hashes.push(h)
        if (hashes.length >= TX_FETCHER_MAX_RETRIEVALS) break
        bytes += meta.size
        if (bytes >= TX_FETCHER_MAX_RETRIEVAL_SIZE) break
      }
      if (hashes.length === 0) continue
      this.requests.set(peer, { hashes, time: now })
      this.totals.requestOut += hashes.length
      this.fx.fetch(peer, hashes)
    }
  }
}
