// The eth protocol for createServer (DESIGN.md §1 "eth layer"; go-ethereum eth/protocols/eth MakeProtocols and
// handler.go runEthPeer; eth/68 as v1.17.0, eth/69–72 as v1.17.5): one Protocol per version we speak (eth/72 down
// to eth/68; the highest version both sides have wins in the p2p capability match), each running the eth-peer machine (machines/eth-peer.machine.ts)
// over the protocol's read-writer: the Status handshake with geth's checks, then the peer is active and joins the
// peer set until it drops. After the Status, each message goes through the peer's handler
// (actors/eth-handler.ts: requests answered from the chain reader, responses matched to our requests, eth/69
// block ranges, transactions and announcements checked and marked known) — transactions and announcements then
// reach the application as a stream per peer (EthPeer.messages$), or with a txPool its pool through geth's
// transaction fetcher; broadcastTransactions sends ours out.
//
// API
//   createEthProtocols({ chain, versions?, inspect?, acceptTxs?, txPool?, metrics? }) → EthProtocols   (inspect: XState
//                         inspection of the eth-peers; acceptTxs: geth's AcceptTxs, while false transaction messages
//                         are ignored; txPool: the application's pool — transactions go to it and announced ones are
//                         fetched by geth's transaction fetcher, machines/tx-fetcher.ts; metrics: a prom-client
//                         Registry for the fetcher's eth_fetcher_transaction_… metrics)
//     .protocols            Protocol[] for createServer({ protocols }), with the ENR `eth` entry (our fork id) and
//                           geth's node filter (discovered nodes are dialled only when their `eth` entry passes)
//     .peers()              the active eth peers (handshake done)
//     .broadcastTransactions(txs)   whole to ⌈√n⌉ peers, announced to the rest (geth BroadcastTransactions)
//     .headChanged()        eth/69 BlockRangeUpdate to the peers every 32 blocks (geth blockRangeLoop), and the
//                           ENR `eth` entry set again once the head passed a fork (geth StartENRUpdater)
//     .peerEvents$          { type: 'join', peer } | { type: 'leave', peer, error? } |
//                           { type: 'handshakeFailed', idHex, version, error }
//   EthPeer                 status, getBlockHeaders / getBlockBodies / getReceipts / getPooledTransactions,
//                           getBlockAccessLists (eth/71), getCells (eth/72), blockRange(), send, disconnect, messages$
//   EthChain                what the layer needs of the chain: networkId, fork schedule, head, reader? (serving)
//   staticEthChain(...)     an EthChain whose head never moves (devnets, tests)
//   localStatus(chain, version) / chainRange(chain) / localForkId(chain)   our Status, the block range we serve and
//                         our fork id, from the chain's head
import { randomBytes } from 'node:crypto'
import type { Registry } from 'prom-client'
import { type Observable, Subject } from 'rxjs'
import { type Actor, createActor, fromCallback, type InspectionEvent } from 'xstate'
import { bytesToHex, equalBytes, hexToBytes } from '../codecs/bytes.ts'
import { enrGet } from '../codecs/enr.ts'
import {
  type BlockRange,
  type CellsQuery,
  type CellsResponse,
  ETH_MSG,
  ETH_PROTOCOL_LENGTH,
  ETH_VERSIONS,
  type EthStatus,
  type EthVersion,
  encodeBlockRange,
  encodeGetBlockHeaders,
  encodeHashesRequest,
  encodeStatus,
  type HeadersQuery,
  transactionInfo,
} from '../codecs/eth.ts'
import {
  type ChainForks,
  computeForkId,
  type ForkId,
  type ForkIdFilter,
  forkIdToItem,
  newForkIdFilter,
} from '../codecs/forkid.ts'
import type { Node, NodeId } from '../codecs/node.ts'
import { DiscReason } from '../codecs/p2p.ts'
import { rlpEncode } from '../codecs/rlp.ts'
import { planBroadcast } from '../machines/eth-broadcast.ts'
import { type EthPeerEvent, type EthPeerInput, ethPeerMachine } from '../machines/eth-peer.machine.ts'
import type { EthChainReader } from '../machines/eth-serve.ts'
import {
  type Msg,
  MsgChannel,
  type MsgReadWriter,
  type PeerHandle,
  type Protocol,
  type ProtocolError,
} from '../machines/protocol.ts'
import { type AnnouncedTx, TxFetcher } from '../machines/tx-fetcher.ts'
import { ETH_TRACKER_TIMEOUT_MS, EthPeerHandler, type EthPoolTx, type EthTxSink } from './eth-handler.ts'
import { registerTxFetcherMetrics } from './metrics.ts'

/** The chain as the Status handshake sees it (geth's eth handler reads the same from its blockchain). */
export interface EthChain {
  /** the network id (mainnet 1) */
  networkId: bigint
  /** genesis hash and fork schedule: the fork id we send and the filter for theirs */
  forks: ChainForks
  /** the current head block */
  head(): { number: bigint; hash: Uint8Array; time: bigint }
  /** eth/69: the oldest block whose bodies and receipts we serve (geth: the history pruning cutoff); default 0 */
  earliest?(): bigint
  /** answers the peers' requests (headers, bodies, receipts, pooled transactions); without it, empty replies */
  reader?: EthChainReader
}

/** An EthChain whose head stays where it is given (a devnet, tests). */
export function staticEthChain(opts: {
  networkId: bigint
  forks: ChainForks
  head?: { number: bigint; hash: Uint8Array; time: bigint }
  reader?: EthChainReader
}): EthChain {
  const head = opts.head ?? {
    number: 0n,
    hash: opts.forks.genesisHash,
    time: BigInt(opts.forks.genesisTime ?? 0),
  }
  return {
    networkId: opts.networkId,
    forks: opts.forks,
    head: () => head,
    ...(opts.reader && { reader: opts.reader }),
  }
}

/** A peer that passed the Status handshake. */
export interface EthPeer {
  id: NodeId
  /** node id, lowercase hex */
  idHex: string
  version: EthVersion
  /** the Status it sent */
  status: EthStatus
  /**
   * the Transactions and NewPooledTransactionHashes messages it sent, checked (codes relative to the protocol;
   * decode them with codecs/eth.ts): held while nobody subscribes, up to
   * MAX_QUEUED_MESSAGES / MAX_QUEUED_BYTES, beyond which the peer is dropped (QUEUE_OVERFLOW)
   */
  messages$: Observable<Msg>
  send(code: number, payload: Uint8Array): Promise<void>
  disconnect(reason: DiscReason): void
  /**
   * Requests (eth/66+ request ids, geth's tracker rules): each resolves with the response's items as raw RLP, or
   * rejects with an EthError REQUEST_TIMEOUT after `timeoutMs` (default ETH_REQUEST_TIMEOUT_MS; the peer stays)
   * or with the peer's end. A response that breaks the rules drops the peer (actors/eth-handler.ts).
   */
  getBlockHeaders(query: HeadersQuery, timeoutMs?: number): Promise<Uint8Array[]>
  getBlockBodies(hashes: readonly Uint8Array[], timeoutMs?: number): Promise<Uint8Array[]>
  /**
   * The blocks' receipt lists. eth/70 and up: parts of a block too large for one reply are asked for and joined
   * (EIP-7975); `gasUsed` (per block, in the order of `hashes`) turns on geth's checks of a cut block
   */
  getReceipts(
    hashes: readonly Uint8Array[],
    timeoutMs?: number,
    gasUsed?: readonly bigint[],
  ): Promise<Uint8Array[]>
  getPooledTransactions(hashes: readonly Uint8Array[], timeoutMs?: number): Promise<Uint8Array[]>
  /**
   * eth/71 (EIP-8159): per hash its block access list (raw RLP), undefined where the peer has none; on an older
   * version it rejects with EthError UNSUPPORTED_REQUEST
   */
  getBlockAccessLists(hashes: readonly Uint8Array[], timeoutMs?: number): Promise<(Uint8Array | undefined)[]>
  /** eth/72: cells of blob transactions (older versions: UNSUPPORTED_REQUEST) */
  getCells(query: CellsQuery, timeoutMs?: number): Promise<CellsResponse>
  /** eth/69 and up: the block range it serves (its Status, then its BlockRangeUpdates); eth/68: undefined */
  blockRange(): BlockRange | undefined
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** A uint64 for JSON: a number while it is exact, else its decimal text. */
const jsonUint = (n: bigint): number | string => (n <= MAX_SAFE ? Number(n) : n.toString())

const statusRange = (s: EthStatus): BlockRange | undefined =>
  'latestHash' in s ? { earliest: s.earliest, latest: s.latest, latestHash: s.latestHash } : undefined

export type EthPeerSetEvent =
  | { type: 'join'; peer: EthPeer }
  | { type: 'leave'; peer: EthPeer; error?: ProtocolError }
  /** the Status handshake failed (geth logs "Ethereum handshake failed"); the peer is dropped with error.reason */
  | { type: 'handshakeFailed'; idHex: string; version: EthVersion; error: ProtocolError }

export interface EthProtocols {
  protocols: Protocol[]
  peers(): EthPeer[]
  /**
   * geth BroadcastTransactions: each transaction (network encoding, with its sender when known) goes whole to
   * ⌈√n⌉ peers and is announced to the others, skipping peers that know it (machines/eth-broadcast.ts)
   */
  broadcastTransactions(txs: readonly (Uint8Array | { rlp: Uint8Array; sender?: Uint8Array })[]): void
  /**
   * The chain's head moved: geth's blockRangeLoop — eth/69 peers get a BlockRangeUpdate once the head moved 32
   * blocks past the last one announced, or at once when it moved back; and when the fork id changed, the ENR's
   * `eth` entry is set again through the protocols' attributes$ (geth StartENRUpdater)
   */
  headChanged(): void
  peerEvents$: Observable<EthPeerSetEvent>
}

/** geth blockRangeState.update: the range we serve, from the chain's head and its history cutoff. */
export function chainRange(chain: EthChain): BlockRange {
  const head = chain.head()
  const earliest = chain.earliest?.() ?? 0n
  return {
    earliest: earliest < head.number ? earliest : head.number,
    latest: head.number,
    latestHash: head.hash,
  }
}

/** geth blockRangeState.shouldSend: every 32 blocks, or at once when the head moved back. */
export const BLOCK_RANGE_UPDATE_INTERVAL = 32n

/** geth forkid.NewID from the chain's current head: the fork id our Status and ENR carry. */
export function localForkId(chain: EthChain): ForkId {
  const head = chain.head()
  return computeForkId(chain.forks, head.number, head.time)
}

/** Our Status for `version` from the chain's current head (geth handshake68 / handshake69). */
export function localStatus(chain: EthChain, version: EthVersion): EthStatus {
  const head = chain.head()
  const forkId = localForkId(chain)
  const genesis = chain.forks.genesisHash
  if (version === 68)
    // geth sends a zero total difficulty since the merge
    return { version, networkId: chain.networkId, td: 0n, head: head.hash, genesis, forkId }
  return { version, networkId: chain.networkId, genesis, forkId, ...chainRange(chain) }
}

/** geth's txpool as the eth layer sees it (createEthProtocols' txPool). */
export interface EthTxPool {
  /** geth txpool.Has: announced hashes the pool has are not fetched */
  has(hash: Uint8Array): boolean
  /** geth txpool.Add: transactions a peer (node id hex) broadcast or sent on request, checked and marked known */
  add(txs: readonly EthPoolTx[], from: string): void
}

/**
 * The pool side of the eth layer (geth handler.go NewTxFetcher and handler_eth.go): each peer's transaction sink,
 * the fetcher, its one timer (unref'd; armed only while hashes wait or requests run) and what a leaving peer
 * hands back. Replies come through EthPeer.getPooledTransactions with the tracker's 5 minutes, so a late reply
 * still lands (geth keeps a timed-out request dangling); the fetcher's own 5 s timeout moves on meanwhile.
 */
function txFetching(pool: EthTxPool, active: ReadonlyMap<string, EthPeer>) {
  const now = () => performance.now()
  let timer: NodeJS.Timeout | undefined
  const arm = () => {
    clearTimeout(timer)
    timer = undefined
    const at = fetcher.nextDeadline()
    if (at === undefined) return
    timer = setTimeout(
      () => {
        fetcher.tick(now())
        arm()
      },
      Math.max(0, Math.ceil(at - now())),
    )
    timer.unref()
  }
  const info = (t: EthPoolTx): AnnouncedTx => ({ hash: bytesToHex(t.hash), type: t.type, size: t.size })
  const replied = (peer: string, items: Uint8Array[]) => {
    const got: EthPoolTx[] = []
    try {
      for (const rlp of items) got.push({ rlp, ...transactionInfo(rlp) })
    } catch {
      // geth: an undecodable PooledTransactions is an invalid message
      active.get(peer)?.disconnect(DiscReason.ProtocolError)
      return fetcher.dropPeer(peer, now())
    }
    if (got.length > 0) pool.add(got, peer)
    fetcher.delivered(peer, got.map(info), true, now())
  }
  const fetcher: TxFetcher = new TxFetcher({
    has: (h) => pool.has(hexToBytes(h)),
    fetch: (peer, hashes) => {
      const p = active.get(peer)
      // geth: a failed send drops the peer from the fetcher (deferred: we are inside a fetcher call)
      if (!p) {
        queueMicrotask(() => {
          fetcher.dropPeer(peer, now())
          arm()
        })
        return
      }
      p.getPooledTransactions(hashes.map(hexToBytes), ETH_TRACKER_TIMEOUT_MS).then(
        (items) => {
          replied(peer, items)
          arm()
        },
        // the peer left (its leave cleans up), or no reply in 5 minutes: nothing delivered
        () => {
          if (active.has(peer)) fetcher.delivered(peer, [], true, now())
          arm()
        },
      )
    },
    dropPeer: (peer) => active.get(peer)?.disconnect(DiscReason.UselessPeer),
  })
  return {
    fetcher,
    sink: (peer: string): EthTxSink => ({
      transactions: (list) => {
        pool.add(list, peer)
        fetcher.delivered(peer, list.map(info), false, now())
        arm()
      },
      announced: (a) => {
        fetcher.notify(
          peer,
          a.hashes.map((h, i) => ({ hash: bytesToHex(h), type: a.types[i]!, size: a.sizes[i]! })),
          now(),
        )
        arm()
      },
    }),
    left: (peer: string) => {
      fetcher.dropPeer(peer, now())
      arm()
    },
  }
}

/** createEthProtocols' options. */
export interface EthProtocolsOptions {
  chain: EthChain
  versions?: readonly EthVersion[]
  /** XState inspection of every eth-peer actor (each is the root of its own actor system) */
  inspect?: (ev: InspectionEvent) => void
  /**
   * geth AcceptTxs: while it returns false, transactions, announcements and PooledTransactions responses are
   * ignored (an application without a pool, or not synced yet). Default: accepted
   */
  acceptTxs?: () => boolean
  /**
   * The application's transaction pool. With it, the layer runs geth's transaction fetcher: Transactions from
   * peers go to `txPool.add`, announced hashes the pool lacks are fetched after 500 ms (machines/tx-fetcher.ts),
   * and neither reaches EthPeer.messages$. Without it, both go to messages$ and the application fetches
   */
  txPool?: EthTxPool
  /** a prom-client Registry for the transaction fetcher's metrics (geth eth/fetcher/transaction/…; with txPool) */
  metrics?: Registry
}

/** The eth protocols (one per version) sharing one peer set. */
export function createEthProtocols(opts: EthProtocolsOptions): EthProtocols {
  const chain = opts.chain
  const forkFilter: ForkIdFilter = newForkIdFilter(chain.forks, () => {
    const h = chain.head()
    return { block: h.number, time: h.time }
  })
  const active = new Map<string, EthPeer>()
  const handlers = new Map<string, EthPeerHandler>()
  // the keyed hash's key for choosing direct-broadcast peers (geth newBroadcastChoiceKey)
  const broadcastKey = new Uint8Array(randomBytes(16))
  const events = new Subject<EthPeerSetEvent>()
  // the range last announced (geth blockRangeState.prev)
  let announced = chainRange(chain)
  const txs = opts.txPool && txFetching(opts.txPool, active)
  if (txs && opts.metrics) registerTxFetcherMetrics(opts.metrics, txs.fetcher)

  // geth eth.MakeProtocols: the ENR's `eth` entry [forkid], set again when headChanged() finds the head passed a
  // fork (geth StartENRUpdater)
  const enrEntry = (id: ForkId) => rlpEncode([forkIdToItem(id)])
  let enrForkId = localForkId(chain)
  const attributes = { eth: enrEntry(enrForkId) }
  const attributes$ = new Subject<Record<string, Uint8Array>>()
  // geth eth.NewNodeFilter: dial only nodes whose record's `eth` entry passes our fork id filter
  const nodeFilter = (node: Node): boolean => {
    if (!node.record) return false
    try {
      const id = enrGet(node.record, 'eth')
      return id !== undefined && forkFilter(id) === null
    } catch {
      return false // a malformed entry: geth's n.Load fails
    }
  }
  // geth eth NodeInfo (admin_nodeInfo.protocols.eth) without `config`: we know the fork schedule, not geth's
  // ChainConfig JSON
  const nodeInfo = () => ({
    network: jsonUint(chain.networkId),
    genesis: `0x${bytesToHex(chain.forks.genesisHash)}`,
    head: `0x${bytesToHex(chain.head().hash)}`,
  })
  // geth ethPeerInfo (admin_peers[].protocols.eth): the version and, from eth/69 on, the peer's block range
  const peerInfo = (id: NodeId) => {
    const p = active.get(bytesToHex(id))
    if (p === undefined) return null
    const r = p.blockRange()
    return {
      version: p.version,
      ...(r && {
        earliestBlock: jsonUint(r.earliest),
        latestBlock: jsonUint(r.latest),
        latestBlockHash: `0x${bytesToHex(r.latestHash)}`,
      }),
    }
  }
  const makeProtocol = (version: EthVersion): Protocol => {
    return {
      name: 'eth',
      version,
      length: ETH_PROTOCOL_LENGTH[version],
      attributes,
      attributes$: attributes$.asObservable(),
      nodeFilter,
      nodeInfo,
      peerInfo,
      run: (peer, rw) => runPeer(version, peer, rw),
    }
  }

  const runPeer = (version: EthVersion, peer: PeerHandle, rw: MsgReadWriter): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const app = new MsgChannel()
      const handler = new EthPeerHandler({
        version,
        rw,
        app,
        ...(chain.reader && { chain: chain.reader }),
        ...(opts.acceptTxs && { acceptTxs: opts.acceptTxs }),
        ...(txs && { txSink: txs.sink(bytesToHex(peer.id)) }),
      })
      const reader = fromCallback<{ type: string }, EthPeerInput>(({ sendBack }) => {
        const send = sendBack as (e: EthPeerEvent) => void
        let first = true
        const sub = rw.messages$.subscribe({
          next: (msg) => {
            if (first) {
              first = false
              send({ type: 'status.message', msg })
              return
            }
            const bad = handler.handle(msg)
            if (bad !== undefined) send({ type: 'message.invalid', error: bad })
          },
          complete: () => send({ type: 'rw.closed' }),
          error: (error) => send({ type: 'rw.closed', error }),
        })
        return () => sub.unsubscribe()
      })
      const local = localStatus(chain, version)
      let actor: Actor<typeof ethPeerMachine> | undefined
      const logic = ethPeerMachine.provide({
        actors: { reader },
        actions: {
          sendStatus: ({ context }) => {
            rw.send(ETH_MSG.status, encodeStatus(context.version, context.local)).then(
              () => actor?.send({ type: 'status.sent' }),
              (error) => actor?.send({ type: 'status.sendFailed', error }),
            )
          },
        },
      })
      actor = createActor(logic, {
        input: { version, local, forkFilter },
        ...(opts.inspect && { inspect: opts.inspect }),
      })
      const idHex = bytesToHex(peer.id)
      const byHash = (code: number, hashes: readonly Uint8Array[], timeoutMs?: number) =>
        handler.request(code, (id) => encodeHashesRequest(id, hashes), hashes.length, timeoutMs)
      let joined: EthPeer | undefined
      actor.subscribe({
        next: (s) => {
          if (joined === undefined && s.value === 'active' && s.context.remote !== undefined) {
            joined = {
              id: peer.id,
              idHex,
              version,
              status: s.context.remote,
              messages$: app.messages$,
              send: (code, payload) => rw.send(code, payload),
              disconnect: (reason) => peer.disconnect(reason),
              getBlockHeaders: (query, timeoutMs) =>
                handler.request(
                  ETH_MSG.getBlockHeaders,
                  (id) => encodeGetBlockHeaders(id, query),
                  // geth tracks a header request with its amount as the item limit
                  Number(query.amount < MAX_SAFE ? query.amount : MAX_SAFE),
                  timeoutMs,
                ),
              getBlockBodies: (hashes, timeoutMs) => byHash(ETH_MSG.getBlockBodies, hashes, timeoutMs),
              getReceipts: (hashes, timeoutMs, gasUsed) => handler.receipts(hashes, timeoutMs, gasUsed),
              getPooledTransactions: (hashes, timeoutMs) =>
                byHash(ETH_MSG.getPooledTransactions, hashes, timeoutMs),
              getBlockAccessLists: (hashes, timeoutMs) => handler.blockAccessLists(hashes, timeoutMs),
              getCells: (query, timeoutMs) => handler.cells(query, timeoutMs),
              blockRange: () => handler.range ?? statusRange(s.context.remote!),
            }
            active.set(idHex, joined)
            handlers.set(idHex, handler)
            events.next({ type: 'join', peer: joined })
          }
        },
        complete: () => {
          const out = actor!.getSnapshot().output ?? {}
          handler.close(out.error)
          txs?.left(idHex)
          if (out.error) app.error(out.error)
          else app.complete()
          if (joined !== undefined) {
            if (active.get(idHex) === joined) {
              active.delete(idHex)
              handlers.delete(idHex)
            }
            events.next({ type: 'leave', peer: joined, ...(out.error && { error: out.error }) })
          } else if (out.error) events.next({ type: 'handshakeFailed', idHex, version, error: out.error })
          if (out.error) reject(out.error)
          else resolve()
        },
        error: (e) => reject(e),
      })
      actor.start()
    })

  const versions = opts.versions ?? ETH_VERSIONS
  return {
    protocols: versions.map(makeProtocol),
    peers: () => [...active.values()],
    headChanged: () => {
      const id = localForkId(chain)
      if (id.next !== enrForkId.next || !equalBytes(id.hash, enrForkId.hash)) {
        enrForkId = id
        attributes$.next({ eth: enrEntry(id) })
      }
      const next = chainRange(chain)
      if (next.latest >= announced.latest && next.latest - announced.latest < BLOCK_RANGE_UPDATE_INTERVAL)
        return
      const to = [...active.values()].filter((p) => p.version >= 69)
      // geth keeps the old range as the reference while it has nobody to tell
      if (to.length === 0) return
      const payload = encodeBlockRange(next)
      for (const p of to) p.send(ETH_MSG.blockRangeUpdate, payload).catch(() => {})
      announced = next
    },
    broadcastTransactions: (txs) => {
      const list = [...active.values()]
      const hs = list.map((p) => handlers.get(p.idHex)!)
      const infos = txs.map((t) => {
        const rlp = t instanceof Uint8Array ? t : t.rlp
        const sender = t instanceof Uint8Array ? undefined : t.sender
        return { ...transactionInfo(rlp), rlp, ...(sender && { sender }) }
      })
      const plan = planBroadcast(
        infos,
        list.map((p, i) => ({ id: p.id, knows: (h: Uint8Array) => hs[i]!.knows(h) })),
        broadcastKey,
      )
      for (const [i, { direct, announce }] of plan) {
        if (direct.length > 0) hs[i]!.sendTransactions(direct)
        if (announce.length > 0) hs[i]!.announceTransactions(announce)
      }
    },
    peerEvents$: events.asObservable(),
  }
}
