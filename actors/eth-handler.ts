// One eth peer's data plane after its Status (go-ethereum eth/protocols/eth/handler.go handleMessage,
// handlers.go, peer.go and p2p/tracker, v1.17.0): every message is checked and routed here, never as a machine
// event — requests are answered from the chain (machines/eth-serve.ts), responses settle the requests we sent,
// eth/69 BlockRangeUpdate updates the peer's range, transactions and announcements are checked, marked known
// and go to the application's stream (or, with a txSink, to the pool and the transaction fetcher). A message that breaks the protocol is returned as the error that drops the peer,
// with geth's text and reason:
//   a second Status → extra status message · > 10 MiB → message too long · a code the version has no handler
//   for → invalid message code · an undecodable request or response → invalid message (DiscProtocolError) ·
//   NewBlockHashes / NewBlock (eth/68) → block announcements / broadcasts disallowed (geth dropped pre-merge
//   networks) · a Transactions message of more than 5000 → too many transactions · an announcement whose three
//   lists differ in length → NewPooledTransactionHashes: invalid len of fields ·
//   a response to no request of ours in the last 5 minutes → "<Name>: no matching request", to a request of
//   another kind → wrong response code for request, with more items than asked for → response is larger than
//   request allows · a bad block range → invalid block range (all DiscSubprotocolError).
// A response that comes after our caller gave up (its timeout) but within the 5 minutes is dropped silently,
// as geth's dispatcher does.
//
// API
//   new EthPeerHandler({ version, rw, chain?, app, now?, acceptTxs?, txSink? })
//   .handle(msg) → ProtocolError | undefined          route one message (after the Status)
//   .request(code, payload-builder, maxItems, timeoutMs) → Promise<raw items>
//   .range                                            the peer's last eth/69 block range
//   .knows(hash) / .sendTransactions(txs) / .announceTransactions(txs)   geth's known-transaction set (32768)
//                                                     and its two send queues (4096 each, oldest dropped; one
//                                                     batch of ≤ 100 KiB in flight per queue)
//   .close(error)                                     fail the pending requests, clear their timers and queues
import { randomBytes } from 'node:crypto'
import { bytesToHex } from '../codecs/bytes.ts'
import { DecodeError } from '../codecs/errors.ts'
import {
  type BlockRange,
  blockRangeError,
  decodeBlockRange,
  decodeGetBlockHeaders,
  decodeHashesRequest,
  decodePooledTxHashes,
  decodeRawResponse,
  decodeTransactions,
  ETH_MAX_MESSAGE_SIZE,
  ETH_MAX_TX_ANNOUNCEMENTS,
  ETH_MAX_TX_PACKET_SIZE,
  ETH_MSG,
  type EthVersion,
  encodePooledTxHashes,
  encodeRawResponse,
  encodeTransactions,
  transactionInfo,
} from '../codecs/eth.ts'
import { DiscReason } from '../codecs/p2p.ts'
import type { BroadcastTx } from '../machines/eth-broadcast.ts'
import { EthError } from '../machines/eth-peer.machine.ts'
import {
  type EthChainReader,
  serveBodies,
  serveHeaders,
  servePooledTransactions,
  serveReceipts,
} from '../machines/eth-serve.ts'
import { type Msg, type MsgChannel, type MsgReadWriter, ProtocolError } from '../machines/protocol.ts'

/** geth p2p/tracker: how long a sent request is remembered (a response after it is unrequested). */
export const ETH_TRACKER_TIMEOUT_MS = 5 * 60_000
/** geth p2p/tracker maxTrackedPackets: requests remembered per peer at most. */
export const ETH_MAX_TRACKED_REQUESTS = 10_000
/** geth eth maxKnownTxs: transaction hashes remembered per peer as known to it. */
export const ETH_MAX_KNOWN_TXS = 32_768
/** geth eth maxQueuedTxs / maxQueuedTxAnns: per-peer send queues; beyond them the oldest are dropped. */
export const ETH_MAX_QUEUED_TXS = 4096

/** A transaction ready to send: its network encoding and what announcing it needs. */
export type TxInfo = Pick<BroadcastTx, 'hash' | 'type' | 'size' | 'rlp'>

/** One of a peer's two transaction send queues. */
interface SendQueue {
  items: TxInfo[]
  /** a batch is being written */
  sending: boolean
  code: number
  /** what a transaction adds to its batch's size */
  cost(tx: TxInfo): number
  encode(batch: readonly TxInfo[]): Uint8Array
}

/** Our default wait for a response (geth's callers pick theirs: 5 s for transactions, ≤ 1 min for sync). */
export const ETH_REQUEST_TIMEOUT_MS = 10_000

/** The messages geth ignores while it does not accept transactions. */
const TX_CODES: ReadonlySet<number> = new Set([
  ETH_MSG.transactions,
  ETH_MSG.newPooledTransactionHashes,
  ETH_MSG.pooledTransactions,
])

const RESPONSE_NAME: Record<number, string> = {
  [ETH_MSG.blockHeaders]: 'BlockHeaders',
  [ETH_MSG.blockBodies]: 'BlockBodies',
  [ETH_MSG.pooledTransactions]: 'PooledTransactions',
  [ETH_MSG.receipts]: 'Receipts',
}

/** The message codes each version handles (geth handler.go eth68 / eth69); Status only in the handshake. */
export function handledCodes(version: EthVersion): ReadonlySet<number> {
  const codes = new Set<number>(Object.values(ETH_MSG))
  codes.delete(ETH_MSG.status)
  if (version === 68) codes.delete(ETH_MSG.blockRangeUpdate)
  else {
    codes.delete(ETH_MSG.newBlockHashes)
    codes.delete(ETH_MSG.newBlock)
  }
  return codes
}

interface Tracked {
  /** the response code it expects */
  code: number
  maxItems: number
  expiresAt: number
  /** the caller, while it still waits */
  waiter?: { resolve(items: Uint8Array[]): void; reject(e: unknown): void; timer: NodeJS.Timeout }
}

export interface EthPeerHandlerOptions {
  version: EthVersion
  rw: MsgReadWriter
  /** answers requests; without it every request gets an empty reply */
  chain?: EthChainReader
  /** where the messages the application handles go */
  app: MsgChannel
  now?: () => number
  /**
   * geth AcceptTxs (true once synced): while false, Transactions, announcements and PooledTransactions responses
   * are ignored before decoding, as geth does. Default: always true
   */
  acceptTxs?: () => boolean
  /**
   * Where checked Transactions and NewPooledTransactionHashes go instead of `app` (createEthProtocols' txPool:
   * the pool and geth's transaction fetcher)
   */
  txSink?: EthTxSink
}

/** A transaction as a peer sent it: network encoding, hash, type and size (codecs/eth.ts transactionInfo). */
export interface EthPoolTx {
  rlp: Uint8Array
  hash: Uint8Array
  type: number
  size: number
}

export interface EthTxSink {
  /** a Transactions broadcast, checked */
  transactions(txs: EthPoolTx[]): void
  /** a NewPooledTransactionHashes announcement, checked (the three lists have one length) */
  announced(a: { hashes: Uint8Array[]; types: Uint8Array; sizes: number[] }): void
}

const invalid = (code: number, size: number, e: unknown) =>
  new EthError(
    'INVALID_MESSAGE',
    `(code ${code}) (size ${size}) ${e instanceof DecodeError ? e.message : String(e)}`,
    DiscReason.ProtocolError,
  )

export class EthPeerHandler {
  readonly version: EthVersion
  range: BlockRange | undefined
  private readonly handled: ReadonlySet<number>
  private readonly tracked = new Map<bigint, Tracked>()
  private readonly now: () => number
  private closed: unknown

  constructor(private readonly opts: EthPeerHandlerOptions) {
    this.version = opts.version
    this.handled = handledCodes(opts.version)
    this.now = opts.now ?? Date.now
  }

  handle(msg: Msg): ProtocolError | undefined {
    const code = msg.code
    if (code === ETH_MSG.status) return new EthError('EXTRA_STATUS_MSG')
    if (msg.size > ETH_MAX_MESSAGE_SIZE)
      return new EthError('MSG_TOO_LARGE', `${msg.size} > ${ETH_MAX_MESSAGE_SIZE}`)
    if (!this.handled.has(code)) return new EthError('INVALID_MSG_CODE', String(code))
    if (TX_CODES.has(code) && this.opts.acceptTxs?.() === false) return undefined
    switch (code) {
      case ETH_MSG.getBlockHeaders:
      case ETH_MSG.getBlockBodies:
      case ETH_MSG.getReceipts:
      case ETH_MSG.getPooledTransactions:
        return this.serve(msg)
      case ETH_MSG.blockHeaders:
      case ETH_MSG.blockBodies:
      case ETH_MSG.receipts:
      case ETH_MSG.pooledTransactions:
        return this.response(msg)
      case ETH_MSG.newBlockHashes:
        return new EthError('BLOCK_ANNOUNCEMENTS')
      case ETH_MSG.newBlock:
        return new EthError('BLOCK_BROADCASTS')
      case ETH_MSG.transactions: {
        const sink = this.opts.txSink
        const infos: EthPoolTx[] = []
        try {
          const txs = decodeTransactions(msg.payload)
          if (txs.length > ETH_MAX_TX_ANNOUNCEMENTS) return new EthError('TOO_MANY_TXS')
          for (const rlp of txs) {
            const info = transactionInfo(rlp)
            this.markKnown(info.hash)
            if (sink) infos.push({ rlp, ...info })
          }
        } catch (e) {
          return invalid(code, msg.size, e)
        }
        if (!sink) return this.toApp(msg)
        sink.transactions(infos)
        return undefined
      }
      case ETH_MSG.newPooledTransactionHashes: {
        let a: ReturnType<typeof decodePooledTxHashes>
        try {
          a = decodePooledTxHashes(msg.payload)
        } catch (e) {
          return invalid(code, msg.size, e)
        }
        if (a.hashes.length !== a.types.length || a.hashes.length !== a.sizes.length)
          return new EthError(
            'ANNOUNCEMENT_LENGTHS',
            `${a.hashes.length} ${a.types.length} ${a.sizes.length}`,
          )
        for (const h of a.hashes) this.markKnown(h)
        if (!this.opts.txSink) return this.toApp(msg)
        this.opts.txSink.announced(a)
        return undefined
      }
      case ETH_MSG.blockRangeUpdate: {
        let r: BlockRange
        try {
          r = decodeBlockRange(msg.payload)
        } catch (e) {
          return invalid(code, msg.size, e)
        }
        const bad = blockRangeError(r.earliest, r.latest, r.latestHash)
        if (bad !== null) return new EthError('INVALID_BLOCK_RANGE', bad)
        this.range = r
        return undefined
      }
      default:
        return this.toApp(msg)
    }
  }

  private toApp(msg: Msg): ProtocolError | undefined {
    if (this.opts.app.push(msg)) return undefined
    return new ProtocolError('QUEUE_OVERFLOW', `more than ${this.opts.app.maxQueued} unread eth messages`)
  }

  // ---- transactions: geth's knownTxs and its broadcast / announce loops (eth/protocols/eth/broadcast.go) ----

  private readonly known = new Set<string>()
  /** whole transactions (Transactions, batches by encoded size) */
  private readonly txs: SendQueue = {
    items: [],
    sending: false,
    code: ETH_MSG.transactions,
    cost: (tx) => tx.rlp.length,
    encode: (batch) => encodeTransactions(batch.map((tx) => tx.rlp)),
  }
  /** announcements (NewPooledTransactionHashes, batches by hash bytes, as geth counts them) */
  private readonly anns: SendQueue = {
    items: [],
    sending: false,
    code: ETH_MSG.newPooledTransactionHashes,
    cost: () => 32,
    encode: (batch) =>
      encodePooledTxHashes({
        types: Uint8Array.from(batch, (tx) => tx.type),
        sizes: batch.map((tx) => tx.size),
        hashes: batch.map((tx) => tx.hash),
      }),
  }

  /** Whether the peer is known to have this transaction (it sent or announced it, or we did). */
  knows(hash: Uint8Array): boolean {
    return this.known.has(bytesToHex(hash))
  }

  private markKnown(hash: Uint8Array): void {
    const k = bytesToHex(hash)
    if (this.known.has(k)) return
    // geth drops random entries at capacity; the oldest here
    if (this.known.size >= ETH_MAX_KNOWN_TXS) this.known.delete(this.known.values().next().value!)
    this.known.add(k)
  }

  /** Queue whole transactions for this peer (geth AsyncSendTransactions). */
  sendTransactions(txs: readonly TxInfo[]): void {
    this.queue(this.txs, txs)
  }

  /** Queue transaction announcements for this peer (geth AsyncSendPooledTransactionHashes). */
  announceTransactions(txs: readonly TxInfo[]): void {
    this.queue(this.anns, txs)
  }

  /** Append to a send queue, keeping the newest ETH_MAX_QUEUED_TXS (geth trims the front), and pump it. */
  private queue(q: SendQueue, txs: readonly TxInfo[]): void {
    if (this.closed !== undefined) return
    q.items.push(...txs)
    if (q.items.length > ETH_MAX_QUEUED_TXS) q.items.splice(0, q.items.length - ETH_MAX_QUEUED_TXS)
    this.pump(q)
  }

  /** geth's broadcast / announce loop: one batch of up to 100 KiB in flight per queue, marked known when sent. */
  private pump(q: SendQueue): void {
    if (q.sending || q.items.length === 0 || this.closed !== undefined) return
    let size = 0
    let n = 0
    for (; n < q.items.length && size < ETH_MAX_TX_PACKET_SIZE; n++) {
      const tx = q.items[n]!
      size += q.cost(tx)
      this.markKnown(tx.hash)
    }
    const batch = q.items.splice(0, n)
    q.sending = true
    this.opts.rw.send(q.code, q.encode(batch)).then(
      () => {
        q.sending = false
        this.pump(q)
      },
      // a failed write ends the connection: nothing more goes out
      () => {
        q.items.length = 0
      },
    )
  }

  /** Answer a request at once (geth handles one message at a time per peer). */
  private serve(msg: Msg): ProtocolError | undefined {
    const chain = this.opts.chain
    let id: bigint
    let items: Uint8Array[]
    try {
      if (msg.code === ETH_MSG.getBlockHeaders) {
        const r = decodeGetBlockHeaders(msg.payload)
        id = r.id
        items = chain ? serveHeaders(chain, r.query) : []
      } else {
        const r = decodeHashesRequest(msg.payload)
        id = r.id
        items = !chain
          ? []
          : msg.code === ETH_MSG.getBlockBodies
            ? serveBodies(chain, r.hashes)
            : msg.code === ETH_MSG.getReceipts
              ? serveReceipts(chain, r.hashes, this.version)
              : servePooledTransactions(chain, r.hashes)
      }
    } catch (e) {
      return invalid(msg.code, msg.size, e)
    }
    // a failed write ends the connection, which ends the peer
    this.opts.rw.send(msg.code + 1, encodeRawResponse(id, items)).catch(() => {})
    return undefined
  }

  /** geth tracker.Fulfil, then the dispatcher: settle the waiting caller, if any. */
  private response(msg: Msg): ProtocolError | undefined {
    let id: bigint
    let items: Uint8Array[]
    try {
      ;({ id, items } = decodeRawResponse(msg.payload, RESPONSE_NAME[msg.code]))
    } catch (e) {
      return invalid(msg.code, msg.size, e)
    }
    const name = RESPONSE_NAME[msg.code]!
    const t = this.tracked.get(id)
    if (t === undefined || t.expiresAt <= this.now()) {
      if (t !== undefined) this.forget(id, t)
      return new EthError('NO_MATCHING_REQUEST', name)
    }
    if (t.code !== msg.code) return new EthError('CODE_MISMATCH', name)
    if (items.length > t.maxItems) return new EthError('TOO_MANY_ITEMS', name)
    this.tracked.delete(id)
    if (t.waiter) {
      clearTimeout(t.waiter.timer)
      // copies: the payload's buffer is the connection's
      t.waiter.resolve(items.map((x) => x.slice()))
    }
    return undefined
  }

  /**
   * Send a request (`encode` gets the request id) and resolve with the response's raw items; rejects with
   * REQUEST_TIMEOUT after `timeoutMs` (the peer stays), or with the peer's end.
   */
  request(
    code: number,
    encode: (id: bigint) => Uint8Array,
    maxItems: number,
    timeout = ETH_REQUEST_TIMEOUT_MS,
  ): Promise<Uint8Array[]> {
    // never longer than the tracker remembers the request
    const timeoutMs = Math.min(timeout, ETH_TRACKER_TIMEOUT_MS)
    if (this.closed !== undefined)
      return Promise.reject(new ProtocolError('SHUTTING_DOWN', 'eth peer dropped'))
    const now = this.now()
    if (this.tracked.size >= ETH_MAX_TRACKED_REQUESTS) {
      for (const [k, t] of this.tracked) if (t.expiresAt <= now) this.forget(k, t)
      if (this.tracked.size >= ETH_MAX_TRACKED_REQUESTS)
        return Promise.reject(new EthError('REQUEST_LIMIT', `${ETH_MAX_TRACKED_REQUESTS} in flight`))
    }
    let id = randomBytes(8).readBigUInt64BE()
    while (this.tracked.has(id)) id = randomBytes(8).readBigUInt64BE()
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const t: Tracked = { code: code + 1, maxItems, expiresAt: now + ETH_TRACKER_TIMEOUT_MS }
      const timer = setTimeout(() => {
        // the tracker keeps the id: a late response is dropped silently, not held against the peer
        t.waiter = undefined
        reject(new EthError('REQUEST_TIMEOUT', `${RESPONSE_NAME[code + 1]} after ${timeoutMs} ms`))
      }, timeoutMs)
      t.waiter = { resolve, reject, timer }
      this.tracked.set(id, t)
      this.opts.rw.send(code, encode(id)).catch((e) => {
        clearTimeout(timer)
        this.tracked.delete(id)
        reject(e)
      })
    })
  }

  /** Drop an expired entry; a caller still waiting on it gets its timeout now. */
  private forget(id: bigint, t: Tracked): void {
    this.tracked.delete(id)
    const w = t.waiter
    if (w === undefined) return
    t.waiter = undefined
    clearTimeout(w.timer)
    w.reject(
      new EthError(
        'REQUEST_TIMEOUT',
        `${RESPONSE_NAME[t.code]} not answered in ${ETH_TRACKER_TIMEOUT_MS} ms`,
      ),
    )
  }

  /** The peer ended: fail the waiting callers and clear their timers. */
  close(error?: unknown): void {
    if (this.closed !== undefined) return
    this.closed = error ?? true
    for (const t of this.tracked.values())
      if (t.waiter) {
        clearTimeout(t.waiter.timer)
        t.waiter.reject(new ProtocolError('SHUTTING_DOWN', 'eth peer dropped'))
      }
    this.tracked.clear()
    this.txs.items.length = 0
    this.anns.items.length = 0
  }
}
