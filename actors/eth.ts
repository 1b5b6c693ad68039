// The eth protocol for createServer (DESIGN.md §1 "eth layer"; go-ethereum eth/protocols/eth MakeProtocols and
// handler.go runEthPeer, v1.17.0): one Protocol per version we speak (eth/69, eth/68; the highest version both
// sides have wins in the p2p capability match), each running the eth-peer machine (machines/eth-peer.machine.ts)
// over the protocol's read-writer: the Status handshake with geth's checks, then the peer is active and joins the
// peer set until it drops. This is the eth layer's first part: the Status handshake and the peer set. The
// messages after the Status reach the application as a stream per peer (EthPeer.messages$), not handled here
// yet (transactions, block announcements, requests: not built).
//
// API
//   createEthProtocols({ chain, versions? }) → EthProtocols
//     .protocols            Protocol[] for createServer({ protocols })
//     .peers()              the active eth peers (handshake done)
//     .peerEvents$          { type: 'join', peer } | { type: 'leave', peer, error? } |
//                           { type: 'handshakeFailed', idHex, version, error }
//   EthChain                what the handshake needs of the chain: networkId, fork schedule, head
//   staticEthChain(...)     an EthChain whose head never moves (devnets, tests)
import { type Observable, Subject } from 'rxjs'
import { type Actor, createActor, fromCallback } from 'xstate'
import { bytesToHex } from '../codecs/bytes.ts'
import {
  ETH_MAX_MESSAGE_SIZE,
  ETH_MSG,
  ETH_PROTOCOL_LENGTH,
  ETH_VERSIONS,
  type EthStatus,
  type EthVersion,
  encodeStatus,
} from '../codecs/eth.ts'
import { type ChainForks, computeForkId, type ForkIdFilter, newForkIdFilter } from '../codecs/forkid.ts'
import type { NodeId } from '../codecs/node.ts'
import type { DiscReason } from '../codecs/p2p.ts'
import {
  EthError,
  type EthPeerEvent,
  type EthPeerInput,
  ethPeerMachine,
} from '../machines/eth-peer.machine.ts'
import {
  type Msg,
  MsgChannel,
  type MsgReadWriter,
  type PeerHandle,
  type Protocol,
  ProtocolError,
} from '../machines/protocol.ts'

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
}

/** An EthChain whose head stays where it is given (a devnet, tests). */
export function staticEthChain(opts: {
  networkId: bigint
  forks: ChainForks
  head?: { number: bigint; hash: Uint8Array; time: bigint }
}): EthChain {
  const head = opts.head ?? {
    number: 0n,
    hash: opts.forks.genesisHash,
    time: BigInt(opts.forks.genesisTime ?? 0),
  }
  return { networkId: opts.networkId, forks: opts.forks, head: () => head }
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
   * its eth messages after the Status (codes relative to the protocol): held while nobody subscribes, up to
   * MAX_QUEUED_MESSAGES / MAX_QUEUED_BYTES, beyond which the peer is dropped (QUEUE_OVERFLOW)
   */
  messages$: Observable<Msg>
  send(code: number, payload: Uint8Array): Promise<void>
  disconnect(reason: DiscReason): void
}

export type EthPeerSetEvent =
  | { type: 'join'; peer: EthPeer }
  | { type: 'leave'; peer: EthPeer; error?: ProtocolError }
  /** the Status handshake failed (geth logs "Ethereum handshake failed"); the peer is dropped with error.reason */
  | { type: 'handshakeFailed'; idHex: string; version: EthVersion; error: ProtocolError }

export interface EthProtocols {
  protocols: Protocol[]
  peers(): EthPeer[]
  peerEvents$: Observable<EthPeerSetEvent>
}

/** Codes a version has no handler for (geth handler.go eth68 / eth69 maps): errInvalidMsgCode. */
function handledCodes(version: EthVersion): Set<number> {
  const codes = new Set<number>(Object.values(ETH_MSG))
  codes.delete(ETH_MSG.status)
  if (version === 68) codes.delete(ETH_MSG.blockRangeUpdate)
  else {
    codes.delete(ETH_MSG.newBlockHashes)
    codes.delete(ETH_MSG.newBlock)
  }
  return codes
}

/** Our Status for `version` from the chain's current head (geth handshake68 / handshake69). */
export function localStatus(chain: EthChain, version: EthVersion): EthStatus {
  const head = chain.head()
  const forkId = computeForkId(chain.forks, head.number, head.time)
  const genesis = chain.forks.genesisHash
  if (version === 68)
    // geth sends a zero total difficulty since the merge
    return { version, networkId: chain.networkId, td: 0n, head: head.hash, genesis, forkId }
  const earliest = chain.earliest?.() ?? 0n
  return {
    version,
    networkId: chain.networkId,
    genesis,
    forkId,
    earliest: earliest < head.number ? earliest : head.number,
    latest: head.number,
    latestHash: head.hash,
  }
}

/** The eth protocols (one per version) sharing one peer set. */
export function createEthProtocols(opts: {
  chain: EthChain
  versions?: readonly EthVersion[]
}): EthProtocols {
  const chain = opts.chain
  const forkFilter: ForkIdFilter = newForkIdFilter(chain.forks, () => {
    const h = chain.head()
    return { block: h.number, time: h.time }
  })
  const active = new Map<string, EthPeer>()
  const events = new Subject<EthPeerSetEvent>()

  const makeProtocol = (version: EthVersion): Protocol => {
    const handled = handledCodes(version)
    return {
      name: 'eth',
      version,
      length: ETH_PROTOCOL_LENGTH[version],
      run: (peer, rw) => runPeer(version, handled, peer, rw),
    }
  }

  const runPeer = (
    version: EthVersion,
    handled: Set<number>,
    peer: PeerHandle,
    rw: MsgReadWriter,
  ): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const app = new MsgChannel()
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
            const bad =
              msg.code === ETH_MSG.status
                ? new EthError('EXTRA_STATUS_MSG')
                : msg.size > ETH_MAX_MESSAGE_SIZE
                  ? new EthError('MSG_TOO_LARGE', `${msg.size} > ${ETH_MAX_MESSAGE_SIZE}`)
                  : !handled.has(msg.code)
                    ? new EthError('INVALID_MSG_CODE', String(msg.code))
                    : undefined
            if (bad !== undefined) send({ type: 'message.invalid', error: bad })
            else if (!app.push(msg))
              send({
                type: 'message.invalid',
                error: new ProtocolError('QUEUE_OVERFLOW', `more than ${app.maxQueued} unread eth messages`),
              })
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
      actor = createActor(logic, { input: { version, local, forkFilter } })
      const idHex = bytesToHex(peer.id)
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
            }
            active.set(idHex, joined)
            events.next({ type: 'join', peer: joined })
          }
        },
        complete: () => {
          const out = actor!.getSnapshot().output ?? {}
          if (out.error) app.error(out.error)
          else app.complete()
          if (joined !== undefined) {
            if (active.get(idHex) === joined) active.delete(idHex)
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
    peerEvents$: events.asObservable(),
  }
}
