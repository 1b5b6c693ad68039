// One eth peer's data plane after its Status (go-ethereum eth/protocols/eth/handler.go handleMessage,
// handlers.go, peer.go and p2p/tracker; eth/68 as v1.17.0, eth/69–72 as v1.17.5): every message is checked and
// routed here, never as a machine event — requests are answered from the chain (machines/eth-serve.ts), responses
// settle the requests we sent, eth/69 BlockRangeUpdate updates the peer's range, transactions and announcements
// are checked, marked known and go to the application's stream (or, with a txSink, to the pool and the
// transaction fetcher). eth/70 receipts come in parts: a Receipts reply marked lastBlockIncomplete is kept and the
// rest asked for under the same request id from the cut block's next receipt on (geth bufferReceipts /
// requestPartialReceipts), and the caller gets the joined lists. eth/71 block access lists and eth/72 cells are
// requests like the others; we keep no blob cells, so GetCells is answered with none. A message that breaks the
// protocol is returned as the error that drops the peer, with geth's text and reason:
//   a second Status → extra status message · > 10 MiB → message too long · a code the version has no handler
//   for → invalid message code · an undecodable request or response → invalid message (DiscProtocolError) ·
//   NewBlockHashes / NewBlock (eth/68) → block announcements / broadcasts disallowed (geth dropped pre-merge
//   networks) · a Transactions message of more than 5000 → too many transactions · an announcement whose three
//   lists differ in length → NewPooledTransactionHashes: invalid len of fields ·
//   a response to no request of ours in the last 5 minutes → "<Name>: no matching request", to a request of
//   another kind → wrong response code for request, with more items than asked for → response is larger than
//   request allows · a bad block range → invalid block range · an eth/70 Receipts marked incomplete that is empty
//   (geth's text) or whose last list is, or (when the caller gave the blocks' gas used) whose cut block holds more
//   receipts than its gas allows 21 000-gas transactions or more log bytes than gas / 8 → invalid partial receipts
//   (all DiscSubprotocolError).
// A response that comes after our caller gave up (its timeout) but within the 5 minutes is dropped silently,
// as geth's dispatcher does.
//
// API
//   new EthPeerHandler({ version, rw, chain?, app, now?, acceptTxs?, txSink? })
//   .handle(msg) → ProtocolError | undefined          route one message (after the Status)
//   .request(code, payload-builder, maxItems, timeoutMs) → Promise<raw items>
//   .receipts(hashes, timeoutMs, gasUsed?) → Promise<receipt lists>   (eth/70: joins partial replies)
//   .blockAccessLists(hashes, timeoutMs) → Promise<(raw | undefined)[]>   (eth/71)
//   .cells(query, timeoutMs) → Promise<CellsResponse>   (eth/72)
//   .range                                            the peer's last eth/69 block range
//   .knows(hash) / .sendTransactions(txs) / .announceTransactions(txs)   geth's known-transaction set (32768)
//                                                     and its two send queues (4096 each, oldest dropped; one
//                                                     batch of ≤ 100 KiB in flight per queue)
//   .close(error)                                     fail the pending requests, clear their timers and queues
import { randomBytes } from 'node:crypto'
import { bytesToHex, equalBytes } from '../codecs/bytes.ts'
import { DecodeError } from '../codecs/errors.ts'
import {
  BAL_UNAVAILABLE,
  type BlockRange,
  blockRangeError,
  type CellsQuery,
  type CellsResponse,
  decodeBlockRange,
  decodeCells,
  decodeGetBlockHeaders,
  decodeGetCells,
  decodeGetReceipts70,
  decodeHashesRequest,
  decodePooledTxHashes,
  decodeRawResponse,
  decodeReceipts70,
  decodeTransactions,
  ETH_MAX_MESSAGE_SIZE,
  ETH_MAX_TX_ANNOUNCEMENTS,
  ETH_MAX_TX_PACKET_SIZE,
  ETH_MSG,
  type EthVersion,
  encodeCells,
  encodeGetCells,
  encodeGetReceipts70,
  encodeHashesRequest,
  encodePooledTxHashes,
  encodeRawResponse,
  encodeReceipts70,
  encodeTransactions,
  transactionInfo,
} from '../codecs/eth.ts'
import { DiscReason } from '../codecs/p2p.ts'
import { rlpDecodeRawList, rlpEncodeRawList } from '../codecs/rlp.ts'
import type { BroadcastTx } from '../machines/eth-broadcast.ts'
import { EthError } from '../machines/eth-peer.machine.ts'
import {
  type EthChainReader,
  serveBlockAccessLists,
  serveBodies,
  serveHeaders,
  servePartialReceipts,
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
  [ETH_MSG.blockAccessLists]: 'BlockAccessLists',
  [ETH_MSG.cells]: 'Cells',
}

/** geth validateLastBlockReceipt: the least gas a transaction uses (before Amsterdam; 4500 after it). */
export const MIN_TX_GAS = 21_000n
/** geth params.LogDataGas: gas per byte of log data. */
export const LOG_DATA_GAS = 8n

/** The message codes each version handles (geth handler.go eth68 … eth72); Status only in the handshake. */
export function handledCodes(version: EthVersion): ReadonlySet<number> {
  const codes = new Set<number>(Object.values(ETH_MSG))
  codes.delete(ETH_MSG.status)
  if (version === 68) codes.delete(ETH_MSG.blockRangeUpdate)
  else {
    codes.delete(ETH_MSG.newBlockHashes)
    codes.delete(ETH_MSG.newBlock)
  }
  if (version < 71) {
    codes.delete(ETH_MSG.getBlockAccessLists)
    codes.delete(ETH_MSG.blockAccessLists)
  }
  if (version < 72) {
    codes.delete(ETH_MSG.getCells)
    codes.delete(ETH_MSG.cells)
  }
  return codes
}

/** What a response settles its request with: its items, or an eth/72 Cells response. */
interface Reply {
  items: Uint8Array[]
  cells?: CellsResponse
}

/** An eth/70 receipts request while its replies come in parts (geth receiptRequest). */
interface PartialReceipts {
  hashes: readonly Uint8Array[]
  /** the blocks' gas used, for geth's checks of a cut block (optional here; geth always has them) */
  gasUsed: readonly bigint[] | undefined
  /** the receipts per block so far (copies); the last block may be cut */
  lists: Uint8Array[][]
  /** the log bytes of the last block's receipts so far */
  lastLogSize: bigint
}

interface Tracked {
  /** the response code it expects */
  code: number
  maxItems: number
  expiresAt: number
  /** the caller, while it still waits */
  waiter?: { resolve(r: Reply): void; reject(e: unknown): void; timer: NodeJS.Timeout }
  /** eth/70 receipts */
  partial?: PartialReceipts
}

/** geth ReceiptList.LogsSize: the bytes inside each receipt's logs list ([type, status, gasUsed, logs]). */
function logsSize(receipts: readonly Uint8Array[]): bigint {
  let size = 0
  for (const r of receipts) {
    const logs = rlpDecodeRawList(r)[3]
    if (logs === undefined || logs[0]! < 0xc0)
      throw new DecodeError('BAD_MESSAGE', 'receipt without a logs list')
    // the list's content: its length less the header (1 byte up to 55 bytes of content, else 1 + length bytes)
    size += logs.length - (logs[0]! <= 0xf7 ? 1 : 1 + logs[0]! - 0xf7)
  }
  return BigInt(size)
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

const reasonOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

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
      case ETH_MSG.getBlockAccessLists:
      case ETH_MSG.getCells:
        return this.serve(msg)
      case ETH_MSG.blockHeaders:
      case ETH_MSG.blockBodies:
      case ETH_MSG.receipts:
      case ETH_MSG.pooledTransactions:
      case ETH_MSG.blockAccessLists:
      case ETH_MSG.cells:
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
          a = decodePooledTxHashes(msg.payload, this.version)
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
    // eth/72: an all-zero custody mask (we keep no blob cells)
    encode: (batch) =>
      encodePooledTxHashes(
        {
          types: Uint8Array.from(batch, (tx) => tx.type),
          sizes: batch.map((tx) => tx.size),
          hashes: batch.map((tx) => tx.hash),
        },
        this.version,
      ),
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
    let reply: Uint8Array
    try {
      if (msg.code === ETH_MSG.getBlockHeaders) {
        const r = decodeGetBlockHeaders(msg.payload)
        reply = encodeRawResponse(r.id, chain ? serveHeaders(chain, r.query) : [])
      } else if (msg.code === ETH_MSG.getReceipts && this.version >= 70) {
        const r = decodeGetReceipts70(msg.payload)
        const p = chain
          ? servePartialReceipts(chain, r.hashes, r.firstIndex, this.version)
          : { items: [], incomplete: false }
        reply = encodeReceipts70(r.id, p.incomplete, p.items)
      } else if (msg.code === ETH_MSG.getCells) {
        // geth answerGetCells: only transactions whose cells it holds; we hold none
        const r = decodeGetCells(msg.payload)
        reply = encodeCells(r.id, { hashes: [], cells: [], mask: r.query.mask })
      } else {
        const r = decodeHashesRequest(msg.payload)
        const items = !chain
          ? []
          : msg.code === ETH_MSG.getBlockBodies
            ? serveBodies(chain, r.hashes)
            : msg.code === ETH_MSG.getReceipts
              ? serveReceipts(chain, r.hashes, this.version)
              : msg.code === ETH_MSG.getBlockAccessLists
                ? serveBlockAccessLists(chain, r.hashes)
                : servePooledTransactions(chain, r.hashes)
        reply = encodeRawResponse(r.id, items)
      }
    } catch (e) {
      return invalid(msg.code, msg.size, e)
    }
    // a failed write ends the connection, which ends the peer
    this.opts.rw.send(msg.code + 1, reply).catch(() => {})
    return undefined
  }

  /** geth tracker.Fulfil, then the dispatcher: settle the waiting caller, if any. */
  private response(msg: Msg): ProtocolError | undefined {
    const name = RESPONSE_NAME[msg.code]!
    let id: bigint
    let items: Uint8Array[] = []
    let incomplete = false
    let cells: CellsResponse | undefined
    try {
      if (msg.code === ETH_MSG.receipts && this.version >= 70)
        ({ id, incomplete, items } = decodeReceipts70(msg.payload))
      else if (msg.code === ETH_MSG.cells) ({ id, response: cells } = decodeCells(msg.payload))
      else ({ id, items } = decodeRawResponse(msg.payload, name))
    } catch (e) {
      return invalid(msg.code, msg.size, e)
    }
    const t = this.tracked.get(id)
    if (t === undefined || t.expiresAt <= this.now()) {
      if (t !== undefined) this.forget(id, t)
      return new EthError('NO_MATCHING_REQUEST', name)
    }
    if (t.code !== msg.code) return new EthError('CODE_MISMATCH', name)
    if ((cells ? cells.cells.length : items.length) > t.maxItems) return new EthError('TOO_MANY_ITEMS', name)
    this.tracked.delete(id)
    const w = t.waiter
    // the caller gave up: nothing to settle or continue
    if (w === undefined) return undefined
    if (t.partial !== undefined && (incomplete || t.partial.lists.length > 0))
      return this.partialReceipts(id, t, items, incomplete, msg)
    clearTimeout(w.timer)
    // copies: the payload's buffer is the connection's (cells are copied by their decoder)
    w.resolve({ items: items.map((x) => x.slice()), ...(cells && { cells }) })
    return undefined
  }

  /**
   * An eth/70 Receipts reply to a request with a part already in, or marked lastBlockIncomplete (geth
   * bufferReceipts, validateLastBlockReceipt, requestPartialReceipts and flushReceipts): join it to what came
   * before; when incomplete, check the cut block and ask for the rest under the same id.
   */
  private partialReceipts(
    id: bigint,
    t: Tracked,
    items: readonly Uint8Array[],
    incomplete: boolean,
    msg: Msg,
  ): ProtocolError | undefined {
    const p = t.partial!
    const w = t.waiter!
    const fail = (e: ProtocolError) => {
      clearTimeout(w.timer)
      w.reject(e)
      return e
    }
    if (items.length === 0) {
      if (incomplete)
        return fail(new EthError('PARTIAL_RECEIPTS', 'invalid empty receipt response with incomplete flag'))
      // geth delivers the empty reply and forgets the parts
      clearTimeout(w.timer)
      w.resolve({ items: [] })
      return undefined
    }
    let lists: Uint8Array[][]
    try {
      lists = items.map((x) => rlpDecodeRawList(x).map((r) => r.slice()))
    } catch (e) {
      return fail(invalid(msg.code, msg.size, e))
    }
    // the reply's first list goes on with our last (cut) block
    const continues = p.lists.length > 0
    if (incomplete) {
      const last = lists[lists.length - 1]!
      if (last.length === 0)
        return fail(new EthError('PARTIAL_RECEIPTS', 'incomplete block without receipts'))
      const block = (continues ? p.lists.length - 1 : 0) + lists.length - 1
      const gas = p.gasUsed?.[block]
      if (gas !== undefined) {
        const same = continues && lists.length === 1
        const prevTxs = same ? p.lists[p.lists.length - 1]!.length : 0
        const prevLog = same ? p.lastLogSize : 0n
        if (BigInt(prevTxs + last.length) > gas / MIN_TX_GAS)
          return fail(new EthError('PARTIAL_RECEIPTS', 'total number of tx exceeded limit'))
        let log: bigint
        try {
          log = logsSize(last)
        } catch (e) {
          return fail(new EthError('PARTIAL_RECEIPTS', `invalid receipt structure: ${reasonOf(e)}`))
        }
        if (prevLog + log > gas / LOG_DATA_GAS)
          return fail(new EthError('PARTIAL_RECEIPTS', 'total download receipt size exceeded the limit'))
        p.lastLogSize = prevLog + log
      }
    }
    if (continues) {
      p.lists[p.lists.length - 1]!.push(...lists[0]!)
      for (let i = 1; i < lists.length; i++) p.lists.push(lists[i]!)
    } else p.lists = lists
    if (!incomplete) {
      clearTimeout(w.timer)
      w.resolve({ items: p.lists.map((l) => rlpEncodeRawList(l)) })
      return undefined
    }
    // the rest: the cut block from its next receipt on, and the blocks after it
    const from = p.lists.length - 1
    const rest = p.hashes.slice(from)
    t.maxItems = rest.length
    t.expiresAt = this.now() + ETH_TRACKER_TIMEOUT_MS
    this.tracked.set(id, t)
    this.opts.rw
      .send(ETH_MSG.getReceipts, encodeGetReceipts70(id, BigInt(p.lists[from]!.length), rest))
      .catch((e) => {
        if (this.tracked.get(id) === t) this.tracked.delete(id)
        clearTimeout(w.timer)
        w.reject(e)
      })
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
    return this.track(code, encode, maxItems, timeout).then((r) => r.items)
  }

  /**
   * GetReceipts: the receipt lists of `hashes` (eth/69 and up: in order, ending at the first block the peer lacks).
   * On eth/70 the lists come in parts when a block's receipts are too large for one reply; they are joined here.
   * `gasUsed` (the blocks' gas used, in the order of `hashes`) turns on geth's checks of a cut block.
   */
  receipts(
    hashes: readonly Uint8Array[],
    timeout = ETH_REQUEST_TIMEOUT_MS,
    gasUsed?: readonly bigint[],
  ): Promise<Uint8Array[]> {
    if (this.version < 70)
      return this.request(
        ETH_MSG.getReceipts,
        (id) => encodeHashesRequest(id, hashes),
        hashes.length,
        timeout,
      )
    const partial: PartialReceipts = { hashes: hashes.slice(), gasUsed, lists: [], lastLogSize: 0n }
    return this.track(
      ETH_MSG.getReceipts,
      (id) => encodeGetReceipts70(id, 0n, hashes),
      hashes.length,
      timeout,
      partial,
    ).then((r) => r.items)
  }

  /** eth/71 GetBlockAccessLists: per hash its block access list (raw RLP), or undefined where the peer has none. */
  blockAccessLists(
    hashes: readonly Uint8Array[],
    timeout = ETH_REQUEST_TIMEOUT_MS,
  ): Promise<(Uint8Array | undefined)[]> {
    if (this.version < 71) return this.unsupported('GetBlockAccessLists', 71)
    return this.request(
      ETH_MSG.getBlockAccessLists,
      (id) => encodeHashesRequest(id, hashes),
      hashes.length,
      timeout,
    ).then((items) => items.map((x) => (equalBytes(x, BAL_UNAVAILABLE) ? undefined : x)))
  }

  /** eth/72 GetCells: the cells in `query.mask`'s columns of the blob transactions the peer has them for. */
  cells(query: CellsQuery, timeout = ETH_REQUEST_TIMEOUT_MS): Promise<CellsResponse> {
    if (this.version < 72) return this.unsupported('GetCells', 72)
    return this.track(ETH_MSG.getCells, (id) => encodeGetCells(id, query), query.hashes.length, timeout).then(
      (r) => r.cells!,
    )
  }

  private unsupported(name: string, version: number): Promise<never> {
    return Promise.reject(
      new EthError(
        'UNSUPPORTED_REQUEST',
        `${name} needs eth/${version}, the peer speaks eth/${this.version}`,
      ),
    )
  }

  private track(
    code: number,
    encode: (id: bigint) => Uint8Array,
    maxItems: number,
    timeout: number,
    partial?: PartialReceipts,
  ): Promise<Reply> {
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
    return new Promise<Reply>((resolve, reject) => {
      const t: Tracked = { code: code + 1, maxItems, expiresAt: now + ETH_TRACKER_TIMEOUT_MS, partial }
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
