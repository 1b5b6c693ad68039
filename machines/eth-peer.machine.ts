// The eth-peer machine: one per peer running the eth protocol (DESIGN.md §3 "eth-peer"; go-ethereum
// eth/protocols/eth/handshake.go and handler.go runEthPeer; eth/68 as v1.17.0, eth/69–72 as v1.17.5). States are
// the contract:
//   handshaking → active → dropped (final)
// handshaking sends our Status and reads theirs at the same time under one 5 s deadline (geth handshakeTimeout);
// it becomes active once both are done and theirs passed the checks, in geth's order:
//   first message not Status → no status message · larger than 10 MiB → message too long · undecodable →
//   invalid message (DiscProtocolError) · network id → version → genesis → fork id (EIP-2124 filter) → block
//   range (eth/69 and up). Every failure but the undecodable Status and the deadline (DiscReadTimeout) is
//   DiscSubprotocolError on the wire (geth: an eth error returned from the protocol, discReasonForError).
// Effects are named actors/actions provided with .provide() (actors/eth.ts over the protocol's read-writer):
//   actors  reader (invoked for the peer's life: the first message → `status.message`; later ones go through the
//           peer's handler (actors/eth-handler.ts), never as machine events, and one that breaks the protocol →
//           `message.invalid`; the end of the stream → `rw.closed`)
//   actions sendStatus (its result comes back as `status.sent` / `status.sendFailed`)
//   delays  handshakeTimeout (ETH_HANDSHAKE_TIMEOUT_MS)
// Output: { remote?: the remote Status once checked, error?: ProtocolError (an EthError, or QUEUE_OVERFLOW) } — no
// error when the stream ended (the peer was dropped by the p2p layer) or the application disconnected.
//
// | event (in)          | payload       | from                 | where       | effect                                  |
// |---------------------|---------------|----------------------|-------------|-----------------------------------------|
// | status.message      | msg: Msg      | reader               | handshaking | checks; ok → remote (active once sent)  |
// | status.sent         | —             | sendStatus           | handshaking | sent (active once theirs was accepted)  |
// | status.sendFailed   | error         | sendStatus           | handshaking | → dropped (that error)                  |
// | message.invalid     | error         | reader               | any         | → dropped (that error)                  |
// | rw.closed           | error?        | reader               | any         | → dropped (no error of ours)            |
import { assign, fromCallback, setup } from 'xstate'
import { bytesToHex, equalBytes } from '../codecs/bytes.ts'
import { DecodeError } from '../codecs/errors.ts'
import {
  blockRangeError,
  decodeStatus,
  ETH_HANDSHAKE_TIMEOUT_MS,
  ETH_MAX_MESSAGE_SIZE,
  ETH_MSG,
  type EthStatus,
  type EthStatus69,
  type EthVersion,
} from '../codecs/eth.ts'
import type { ForkIdFilter } from '../codecs/forkid.ts'
import { DiscReason } from '../codecs/p2p.ts'
import { type Msg, ProtocolError } from './protocol.ts'

/** geth eth protocol.go errors, by name (the text is geth's, with its details after a colon). */
export type EthErrorCode =
  | 'NO_STATUS_MSG'
  | 'MSG_TOO_LARGE'
  | 'INVALID_MESSAGE'
  | 'NETWORK_ID_MISMATCH'
  | 'PROTOCOL_VERSION_MISMATCH'
  | 'GENESIS_MISMATCH'
  | 'FORKID_REJECTED'
  | 'INVALID_BLOCK_RANGE'
  | 'EXTRA_STATUS_MSG'
  | 'INVALID_MSG_CODE'
  | 'HANDSHAKE_TIMEOUT'
  | 'SEND_FAILED'
  | 'NO_MATCHING_REQUEST'
  | 'CODE_MISMATCH'
  | 'TOO_MANY_ITEMS'
  | 'REQUEST_TIMEOUT'
  | 'REQUEST_LIMIT'
  | 'BLOCK_ANNOUNCEMENTS'
  | 'BLOCK_BROADCASTS'
  | 'TOO_MANY_TXS'
  | 'ANNOUNCEMENT_LENGTHS'
  | 'PARTIAL_RECEIPTS'
  | 'UNSUPPORTED_REQUEST'

const ETH_ERROR_TEXT: Record<EthErrorCode, string> = {
  NO_STATUS_MSG: 'no status message',
  MSG_TOO_LARGE: 'message too long',
  INVALID_MESSAGE: 'invalid message',
  NETWORK_ID_MISMATCH: 'network ID mismatch',
  PROTOCOL_VERSION_MISMATCH: 'protocol version mismatch',
  GENESIS_MISMATCH: 'genesis mismatch',
  FORKID_REJECTED: 'fork ID rejected',
  INVALID_BLOCK_RANGE: 'invalid block range in status',
  EXTRA_STATUS_MSG: 'extra status message',
  INVALID_MSG_CODE: 'invalid message code',
  HANDSHAKE_TIMEOUT: 'read timeout',
  SEND_FAILED: 'status write failed',
  NO_MATCHING_REQUEST: 'no matching request',
  CODE_MISMATCH: 'wrong response code for request',
  TOO_MANY_ITEMS: 'response is larger than request allows',
  REQUEST_TIMEOUT: 'request timed out',
  REQUEST_LIMIT: 'request limit reached',
  BLOCK_ANNOUNCEMENTS: 'block announcements disallowed',
  BLOCK_BROADCASTS: 'block broadcasts disallowed',
  TOO_MANY_TXS: 'too many transactions',
  ANNOUNCEMENT_LENGTHS: 'NewPooledTransactionHashes: invalid len of fields in',
  PARTIAL_RECEIPTS: 'invalid partial receipts',
  UNSUPPORTED_REQUEST: 'request not in the negotiated version',
}

/** geth wraps its tracker's errors with the response's name in front: "BlockHeaders: no matching request". */
const NAMED_FIRST: ReadonlySet<EthErrorCode> = new Set([
  'NO_MATCHING_REQUEST',
  'CODE_MISMATCH',
  'TOO_MANY_ITEMS',
])

/**
 * An eth protocol failure. It is a ProtocolError that carries its DiscReason (code 'DISCONNECT'), so the peer
 * drops with geth's reason: `ethCode` says which check failed, the message is geth's text.
 */
export class EthError extends ProtocolError {
  readonly ethCode: EthErrorCode
  constructor(ethCode: EthErrorCode, detail?: string, reason: DiscReason = DiscReason.SubprotocolError) {
    super('DISCONNECT', undefined, { reason })
    this.name = 'EthError'
    this.ethCode = ethCode
    const text = ETH_ERROR_TEXT[ethCode]
    // geth's text, without ProtocolError's code prefix; its length error has no colon
    const sep = ethCode === 'ANNOUNCEMENT_LENGTHS' ? ' ' : ': '
    this.message =
      detail === undefined ? text : NAMED_FIRST.has(ethCode) ? `${detail}: ${text}` : `${text}${sep}${detail}`
  }
}

export interface EthPeerInput {
  /** the negotiated version: it decides the Status layout */
  version: EthVersion
  /** our Status, in that layout */
  local: EthStatus
  /** the EIP-2124 filter over our chain (codecs/forkid.ts newForkIdFilter) */
  forkFilter: ForkIdFilter
}

export interface EthPeerContext extends EthPeerInput {
  sent: boolean
  remote?: EthStatus
  error?: ProtocolError
}

export type EthPeerEvent =
  | { type: 'status.message'; msg: Msg }
  | { type: 'status.sent' }
  | { type: 'status.sendFailed'; error: unknown }
  | { type: 'message.invalid'; error: ProtocolError }
  | { type: 'rw.closed'; error?: unknown }

export interface EthPeerOutput {
  remote?: EthStatus
  /** an EthError, or the peer layer's QUEUE_OVERFLOW when the application left too many messages unread */
  error?: ProtocolError
}

/**
 * geth readStatus68 / readStatus69 on the first message: the remote Status, or the first check it fails (in
 * geth's order). Pure.
 */
export function checkStatus(
  version: EthVersion,
  local: EthStatus,
  forkFilter: ForkIdFilter,
  msg: Msg,
): { status: EthStatus } | { error: EthError } {
  if (msg.code !== ETH_MSG.status)
    return { error: new EthError('NO_STATUS_MSG', `first msg has code ${msg.code.toString(16)} (!= 0)`) }
  if (msg.size > ETH_MAX_MESSAGE_SIZE)
    return { error: new EthError('MSG_TOO_LARGE', `${msg.size} > ${ETH_MAX_MESSAGE_SIZE}`) }
  let remote: EthStatus
  try {
    remote = decodeStatus(version, msg.payload)
  } catch (e) {
    const text = e instanceof DecodeError ? e.message : String(e)
    // geth: a decode failure is its p2p errInvalidMsg → DiscProtocolError
    return {
      error: new EthError('INVALID_MESSAGE', `(code 0) (size ${msg.size}) ${text}`, DiscReason.ProtocolError),
    }
  }
  if (remote.networkId !== local.networkId)
    return { error: new EthError('NETWORK_ID_MISMATCH', `${remote.networkId} (!= ${local.networkId})`) }
  if (remote.version !== version)
    return { error: new EthError('PROTOCOL_VERSION_MISMATCH', `${remote.version} (!= ${version})`) }
  if (!equalBytes(remote.genesis, local.genesis))
    return {
      error: new EthError(
        'GENESIS_MISMATCH',
        `${bytesToHex(remote.genesis)} (!= ${bytesToHex(local.genesis)})`,
      ),
    }
  const fork = forkFilter(remote.forkId)
  if (fork !== null) return { error: new EthError('FORKID_REJECTED', fork.message) }
  if (version >= 69) {
    const r = remote as EthStatus69
    const range = blockRangeError(r.earliest, r.latest, r.latestHash)
    if (range !== null) return { error: new EthError('INVALID_BLOCK_RANGE', range) }
  }
  return { status: remote }
}

/** Placeholders: actors/eth.ts provides the real effects. */
const readerPlaceholder = fromCallback<{ type: string }, EthPeerInput>(() => () => {})

export const ethPeerMachine = setup({
  types: {
    context: {} as EthPeerContext,
    events: {} as EthPeerEvent,
    input: {} as EthPeerInput,
    output: {} as EthPeerOutput,
  },
  actors: { reader: readerPlaceholder },
  actions: {
    sendStatus: () => {},
  },
  guards: {
    failed: ({ context }) => context.error !== undefined,
    bothDone: ({ context }) => context.sent && context.remote !== undefined,
  },
  delays: { handshakeTimeout: ETH_HANDSHAKE_TIMEOUT_MS },
}).createMachine({
  id: 'ethPeer',
  context: ({ input }) => ({ ...input, sent: false }),
  invoke: { id: 'reader', src: 'reader', input: ({ context }) => context },
  initial: 'handshaking',
  on: {
    'rw.closed': '.dropped',
    'message.invalid': { target: '.dropped', actions: assign({ error: ({ event }) => event.error }) },
  },
  states: {
    handshaking: {
      entry: 'sendStatus',
      after: {
        handshakeTimeout: {
          target: 'dropped',
          actions: assign({
            error: () => new EthError('HANDSHAKE_TIMEOUT', undefined, DiscReason.ReadTimeout),
          }),
        },
      },
      on: {
        'status.message': {
          actions: assign(({ context, event }) => {
            const r = checkStatus(context.version, context.local, context.forkFilter, event.msg)
            return 'status' in r ? { remote: r.status } : { error: r.error }
          }),
        },
        'status.sent': { actions: assign({ sent: true }) },
        'status.sendFailed': {
          target: 'dropped',
          actions: assign({ error: ({ event }) => new EthError('SEND_FAILED', String(event.error)) }),
        },
      },
      always: [
        { guard: 'failed', target: 'dropped' },
        // geth waits for both: our Status written and theirs accepted
        { guard: 'bothDone', target: 'active' },
      ],
    },
    active: {},
    dropped: { type: 'final' },
  },
  output: ({ context }) => ({
    ...(context.remote !== undefined && { remote: context.remote }),
    ...(context.error !== undefined && { error: context.error }),
  }),
})
