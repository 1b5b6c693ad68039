// The peer machine: one per RLPx connection, inbound or dialled (DESIGN.md §3 "peer", §8, §9; geth p2p/server.go
// setupConn / checkpoint, p2p/transport.go, p2p/peer.go Peer.run). States are the contract:
//   pendingHandshake → encHandshakeChecks → protoHandshake → protoHandshakeChecks → running → dropped (final)
// Effects are named actors/actions (defaults in ./peer-actors.ts over a PeerTransport; override with .provide()):
//   actors  connection (one for the peer's life, invoked at the root: the ECIES handshake at once, the Hello
//           exchange on `hello.start` — it switches snappy —, the base protocol's read side on `messages.start`:
//           Pong queue, Disconnect, code range), protocolRunner (child `proto:<name>`)
//   actions requestPostHandshakeCheck, requestAddPeerCheck, startHello, startMessages, sendPing, closeConnection,
//           spawnProtocols, assign*
//   delays  handshakeTimeout 5 s, helloTimeout 30 s, pingInterval 15 s (peerDefaults)
// Wiring: createActor(peerMachine, { input: { transport, inbound, dialDest?, localHello, protocols } }) where
// `transport` is the RLPx connection seen as a PeerTransport (contract in ./peer-actors.ts); the server spawns
// it as a child with systemId `peer:<nodeIdHex>` (dialled) and answers the checkpoints.
//
// Events the machine ACCEPTS
// | event                      | payload                 | from                          | where            | effect                                                    |
// |----------------------------|-------------------------|-------------------------------|------------------|-----------------------------------------------------------|
// | checkpoint.accepted        | —                       | supervisor                    | *Checks states   | → protoHandshake / running                                |
// | checkpoint.rejected        | reason                  | supervisor                    | *Checks states   | → dropped, Disconnect(reason) sent                        |
// | peer.disconnect            | reason                  | PeerHandle.disconnect, server | any but dropped  | → dropped, Disconnect(reason) sent, not requestedByRemote |
// | tcp.closed                 | error?                  | `connection` actor (running)  | any but dropped  | → dropped, reason classify(error) (none → NetworkError), nothing sent |
// | handshake.done             | remotePubkey            | `connection` actor            | pendingHandshake | → encHandshakeChecks                                      |
// | handshake.failed           | error                   | `connection` actor            | pendingHandshake | → dropped, reason classify(error), nothing sent           |
// | hello.received             | hello                   | `connection` actor            | protoHandshake   | → protoHandshakeChecks; bad id → dropped (see the guards) |
// | hello.failed               | error                   | `connection` actor            | protoHandshake   | → dropped, classify(error); a remote Disconnect's reason  |
// | disconnect.received        | reason                  | `connection` actor            | running          | → dropped, requestedByRemote, reason echoed back          |
// | message.invalid            | error (ProtocolError)   | `connection` actor            | running          | → dropped DiscProtocolError (out-of-range code, 2nd Hello) |
// | protocol.returned          | name                    | `protocolRunner` child        | running          | → dropped DiscQuitting                                    |
// | protocol.failed            | name, error             | `protocolRunner` child        | running          | → dropped protocolDiscReason(error)                       |
// | xstate.error.actor.connection (a throw inside the connection actor) → dropped as tcp.closed with that error;
// | xstate.after.{handshakeTimeout,helloTimeout,pingInterval}: internal
//
// Events the machine SENDS (to `input.supervisor`, else its parent actor; with neither they go to itself and are ignored)
// | event                      | payload                                                               | when                          |
// |----------------------------|-----------------------------------------------------------------------|-------------------------------|
// | checkpoint.postHandshake   | peer (this actor), id, pubkey, inbound, dialed                       | entering encHandshakeChecks   |
// | checkpoint.addPeer         | peer, id, pubkey, inbound, dialed, name, caps, hello, matched (count) | entering protoHandshakeChecks |
// The supervisor answers with sendTo(event.peer, { type: 'checkpoint.accepted' | 'checkpoint.rejected', reason }).
// When the machine is done, snapshot.output is { reason, requestedByRemote, error? } (xstate.done.actor.<id> at
// the parent). Disconnect on the wire follows geth: sent for checkpoint rejections, DiscUnexpectedIdentity,
// local disconnects, protocol ends, invalid messages, echoes of a received Disconnect (never NetworkError); not
// for handshake failures, Hello failures / timeouts, or connection failures.
import { type AnyActorRef, assign, enqueueActions, type SnapshotFrom, sendTo, setup } from 'xstate'
import { equalBytes } from '../codecs/bytes.ts'
import type { NodeId } from '../codecs/node.ts'
import {
  BASE_PROTOCOL_LENGTH,
  type Capability,
  DiscReason,
  type Hello,
  matchProtocols,
  P2P_MSG,
  PING_PAYLOAD,
  type SharedCapability,
} from '../codecs/p2p.ts'
import { keccak256 } from '../crypto/keccak.ts'
import {
  type ConnectionEvent,
  connectionLogic,
  createPeerHandle,
  type PeerTransport,
  protocolRunnerLogic,
} from './peer-actors.ts'
import { classify, type PeerHandle, type Protocol, ProtocolError, protocolDiscReason } from './protocol.ts'

/** Timing constants of the peer (geth), in ms. */
export const peerDefaults = {
  /** geth p2p/transport.go handshakeTimeout: deadline set on the socket for the ECIES handshake. */
  handshakeTimeout: 5_000,
  /**
   * geth p2p/server.go frameReadTimeout: geth's doProtoHandshake sets no deadline of its own; the Hello read
   * runs under rlpxTransport.ReadMsg's 30 s read deadline, which replaces the 5 s deadline doEncHandshake set
   * (so despite its comment, geth's handshakeTimeout bounds only the ECIES step); the Hello write is under
   * frameWriteTimeout, 20 s.
   */
  helloTimeout: 30_000,
  /** geth p2p/peer.go pingInterval. */
  pingInterval: 15_000,
} as const

export interface PeerInput {
  transport: PeerTransport
  inbound: boolean
  /** the node we dialled (outbound only): its id must match the Hello's (else DiscUnexpectedIdentity) */
  dialDest?: { id: NodeId; pubkey: Uint8Array }
  /** our Hello (version, name, caps, listenPort 0, id) */
  localHello: Hello
  /** the protocols we run; matched against the remote caps (geth matchProtocols) */
  protocols: readonly Protocol[]
  /** who receives checkpoint events; defaults to the parent actor */
  supervisor?: AnyActorRef
}

export interface PeerOutput {
  /** why the peer ended; a received Disconnect's reason is passed through as the remote sent it (any uint8) */
  reason: DiscReason
  requestedByRemote: boolean
  error?: unknown
}

export interface PeerContext {
  transport: PeerTransport
  inbound: boolean
  dialDest: { id: NodeId; pubkey: Uint8Array } | undefined
  localHello: Hello
  protocols: readonly Protocol[]
  supervisor: AnyActorRef | undefined
  /** after the ECIES handshake: the dialled node's for outbound, else the handshake's */
  remotePubkey?: Uint8Array
  remoteId?: NodeId
  /** the remote Hello */
  hello?: Hello
  /** the handle handed to the protocols (and by startPeer as `ready`'s value), from entering `running` */
  peer?: PeerHandle
  matched: SharedCapability<Protocol>[]
  reason?: DiscReason
  requestedByRemote: boolean
  /** send Disconnect(reason) when closing */
  notify: boolean
  error?: unknown
}

export type PeerEvent =
  | { type: 'checkpoint.accepted' }
  | { type: 'checkpoint.rejected'; reason: DiscReason }
  | { type: 'peer.disconnect'; reason: DiscReason }
  | ConnectionEvent
  | { type: 'protocol.returned'; name: string }
  | { type: 'protocol.failed'; name: string; error: unknown }

/** Sent to the supervisor on entering encHandshakeChecks (geth checkpointPostHandshake). */
export interface PostHandshakeCheckpoint {
  type: 'checkpoint.postHandshake'
  peer: AnyActorRef
  id: NodeId
  pubkey: Uint8Array
  inbound: boolean
  dialed: boolean
}

/** Sent to the supervisor on entering protoHandshakeChecks (geth checkpointAddPeer). */
export interface AddPeerCheckpoint extends Omit<PostHandshakeCheckpoint, 'type'> {
  type: 'checkpoint.addPeer'
  name: string
  caps: Capability[]
  hello: Hello
  /** how many of our protocols the remote runs (0 → the supervisor answers DiscUselessPeer) */
  matched: number
}

/** Hello id must be a 64-byte, not-all-zero public key (geth readProtocolHandshake). */
export function isValidHelloId(id: Uint8Array): boolean {
  return id.length === 64 && id.some((b) => b !== 0)
}

/** geth setupConn: keccak256(Hello id) must equal the connection's node id. */
export function isExpectedHelloId(id: Uint8Array, remoteId: NodeId | undefined): boolean {
  return remoteId !== undefined && equalBytes(keccak256(id), remoteId)
}

const supervisorOf = ({ context, self }: { context: PeerContext; self: AnyActorRef }): AnyActorRef =>
  context.supervisor ?? self._parent ?? self

const drop = (reason: DiscReason, notify: boolean, extra: Partial<PeerContext> = {}) => ({
  reason,
  notify,
  ...extra,
})

export const peerMachine = setup({
  types: {
    context: {} as PeerContext,
    input: {} as PeerInput,
    events: {} as PeerEvent,
    output: {} as PeerOutput,
  },
  actors: {
    connection: connectionLogic,
    protocolRunner: protocolRunnerLogic,
  },
  delays: {
    handshakeTimeout: peerDefaults.handshakeTimeout,
    helloTimeout: peerDefaults.helloTimeout,
    pingInterval: peerDefaults.pingInterval,
  },
  guards: {
    isHelloIdInvalid: (_, params: { hello: Hello }) => !isValidHelloId(params.hello.id),
    isHelloIdUnexpected: ({ context }, params: { hello: Hello }) =>
      !isExpectedHelloId(params.hello.id, context.remoteId),
    isRemoteDisconnect: (_, params: { error: unknown }) =>
      params.error instanceof ProtocolError && params.error.code === 'REMOTE_DISCONNECT',
  },
  actions: {
    requestPostHandshakeCheck: sendTo(
      supervisorOf,
      ({ context, self }): PostHandshakeCheckpoint => ({
        type: 'checkpoint.postHandshake',
        peer: self,
        id: context.remoteId!,
        pubkey: context.remotePubkey!,
        inbound: context.inbound,
        dialed: context.dialDest !== undefined,
      }),
    ),
    requestAddPeerCheck: sendTo(
      supervisorOf,
      ({ context, self }): AddPeerCheckpoint => ({
        type: 'checkpoint.addPeer',
        peer: self,
        id: context.remoteId!,
        pubkey: context.remotePubkey!,
        inbound: context.inbound,
        dialed: context.dialDest !== undefined,
        name: context.hello!.name,
        caps: context.hello!.caps,
        hello: context.hello!,
        matched: context.matched.length,
      }),
    ),
    startHello: sendTo('connection', { type: 'hello.start' }),
    startMessages: sendTo('connection', ({ context }) => ({
      type: 'messages.start' as const,
      totalLength: context.matched.reduce((n, m) => n + m.length, BASE_PROTOCOL_LENGTH),
    })),
    /** geth pingLoop: write errors surface on the read side (tcp.closed), so they are ignored here */
    sendPing: ({ context }) => {
      context.transport.send(P2P_MSG.ping, PING_PAYLOAD).catch(() => {})
    },
    /** geth rlpxTransport.close: Disconnect(reason) unless NetworkError or nothing to tell, then close */
    closeConnection: ({ context }) => {
      const tell =
        context.notify && context.reason !== undefined && context.reason !== DiscReason.NetworkError
      context.transport.close(tell ? context.reason : undefined)
    },
    spawnProtocols: enqueueActions(({ context, enqueue, self }) => {
      const peer = createPeerHandle(self, {
        id: context.remoteId!,
        pubkey: context.remotePubkey!,
        hello: context.hello!,
        inbound: context.inbound,
      })
      enqueue.assign({ peer })
      const { transport } = context
      // one shared send, from a method rather than an arrow: no name-keeping wrapper under tsx (keepNames)
      const { send } = {
        send(code: number, payload: Uint8Array) {
          return transport.send(code, payload)
        },
      }
      for (const m of context.matched) {
        enqueue.spawnChild('protocolRunner', {
          id: `proto:${m.name}`,
          input: {
            protocol: m.protocol,
            offset: m.offset,
            length: m.length,
            messages$: transport.messages$,
            send,
            peer,
          },
        })
      }
    }),
    recordEncHandshake: assign((_, params: { remotePubkey: Uint8Array }) => ({
      remotePubkey: params.remotePubkey,
      remoteId: keccak256(params.remotePubkey),
    })),
    recordHello: assign(({ context }, params: { hello: Hello }) => ({
      hello: params.hello,
      matched: matchProtocols(context.protocols, params.hello.caps),
    })),
    assignHandshakeFailure: assign((_, params: { error: unknown }) =>
      drop(classify(params.error), false, params),
    ),
    assignHandshakeTimeout: assign(() => drop(DiscReason.ReadTimeout, false)),
    assignHelloFailure: assign((_, params: { error: unknown }) =>
      drop(classify(params.error), false, params),
    ),
    assignRemoteDisconnect: assign((_, params: { reason: DiscReason; notify: boolean; error?: unknown }) =>
      drop(params.reason, params.notify, { requestedByRemote: true, error: params.error }),
    ),
    assignHelloTimeout: assign(() => drop(DiscReason.ReadTimeout, false)),
    assignInvalidIdentity: assign(() => drop(DiscReason.InvalidIdentity, false)),
    assignUnexpectedIdentity: assign(() => drop(DiscReason.UnexpectedIdentity, true)),
    assignRejection: assign((_, params: { reason: DiscReason }) => drop(params.reason, true)),
    assignLocalDisconnect: assign((_, params: { reason: DiscReason }) => drop(params.reason, true)),
    assignConnectionFailure: assign((_, params: { error?: unknown }) =>
      params.error === undefined
        ? drop(DiscReason.NetworkError, false)
        : drop(classify(params.error), false, params),
    ),
    assignInvalidMessage: assign((_, params: { error: ProtocolError }) =>
      drop(DiscReason.ProtocolError, true, params),
    ),
    assignProtocolReturned: assign(() => drop(DiscReason.Quitting, true)),
    assignProtocolFailed: assign((_, params: { error: unknown }) =>
      drop(protocolDiscReason(params.error), true, params),
    ),
  },
}).createMachine({
  id: 'peer',
  context: ({ input }) => ({
    transport: input.transport,
    inbound: input.inbound,
    dialDest: input.dialDest,
    localHello: input.localHello,
    protocols: input.protocols,
    supervisor: input.supervisor,
    matched: [],
    requestedByRemote: false,
    notify: false,
  }),
  output: ({ context }): PeerOutput => {
    const out: PeerOutput = {
      reason: context.reason ?? DiscReason.NetworkError,
      requestedByRemote: context.requestedByRemote,
    }
    if (context.error !== undefined) out.error = context.error
    return out
  },
  initial: 'pendingHandshake',
  invoke: {
    id: 'connection',
    src: 'connection',
    input: ({ context }) => ({ transport: context.transport, localHello: context.localHello }),
    // the actor reports its failures as events; this is for a throw of its own (a broken transport object)
    onError: {
      target: '.dropped',
      actions: { type: 'assignConnectionFailure', params: ({ event }) => ({ error: event.error }) },
    },
  },
  on: {
    'peer.disconnect': {
      target: '.dropped',
      actions: { type: 'assignLocalDisconnect', params: ({ event }) => ({ reason: event.reason }) },
    },
    'tcp.closed': {
      target: '.dropped',
      actions: { type: 'assignConnectionFailure', params: ({ event }) => ({ error: event.error }) },
    },
  },
  states: {
    pendingHandshake: {
      on: {
        'handshake.done': {
          target: 'encHandshakeChecks',
          actions: {
            type: 'recordEncHandshake',
            // geth setupConn: a dialled connection's node is the dial destination
            params: ({ context, event }) => ({
              remotePubkey: context.dialDest?.pubkey ?? event.remotePubkey,
            }),
          },
        },
        'handshake.failed': {
          target: 'dropped',
          actions: { type: 'assignHandshakeFailure', params: ({ event }) => ({ error: event.error }) },
        },
      },
      after: { handshakeTimeout: { target: 'dropped', actions: 'assignHandshakeTimeout' } },
    },
    encHandshakeChecks: {
      entry: 'requestPostHandshakeCheck',
      on: {
        'checkpoint.accepted': 'protoHandshake',
        'checkpoint.rejected': {
          target: 'dropped',
          actions: { type: 'assignRejection', params: ({ event }) => ({ reason: event.reason }) },
        },
      },
    },
    protoHandshake: {
      entry: 'startHello',
      on: {
        'hello.received': [
          {
            guard: { type: 'isHelloIdInvalid', params: ({ event }) => ({ hello: event.hello }) },
            target: 'dropped',
            actions: 'assignInvalidIdentity',
          },
          {
            guard: { type: 'isHelloIdUnexpected', params: ({ event }) => ({ hello: event.hello }) },
            target: 'dropped',
            actions: [
              { type: 'recordHello', params: ({ event }) => ({ hello: event.hello }) },
              'assignUnexpectedIdentity',
            ],
          },
          {
            target: 'protoHandshakeChecks',
            actions: { type: 'recordHello', params: ({ event }) => ({ hello: event.hello }) },
          },
        ],
        'hello.failed': [
          {
            // geth returns the remote's Disconnect as the handshake error and does not answer it
            guard: { type: 'isRemoteDisconnect', params: ({ event }) => ({ error: event.error }) },
            target: 'dropped',
            actions: {
              type: 'assignRemoteDisconnect',
              params: ({ event }) => ({
                reason: (event.error as ProtocolError).reason ?? DiscReason.ProtocolError,
                notify: false,
                error: event.error,
              }),
            },
          },
          {
            target: 'dropped',
            actions: { type: 'assignHelloFailure', params: ({ event }) => ({ error: event.error }) },
          },
        ],
      },
      after: { helloTimeout: { target: 'dropped', actions: 'assignHelloTimeout' } },
    },
    protoHandshakeChecks: {
      entry: 'requestAddPeerCheck',
      on: {
        'checkpoint.accepted': 'running',
        'checkpoint.rejected': {
          target: 'dropped',
          actions: { type: 'assignRejection', params: ({ event }) => ({ reason: event.reason }) },
        },
      },
    },
    // one region: the ping loop re-enters `waiting` (geth pingLoop); the protocols are spawned on entry
    running: {
      entry: ['startMessages', 'spawnProtocols'],
      initial: 'waiting',
      on: {
        'disconnect.received': {
          target: 'dropped',
          // geth Peer.run: the remote's reason becomes ours and is written back (p.rw.close(reason))
          actions: {
            type: 'assignRemoteDisconnect',
            params: ({ event }) => ({ reason: event.reason, notify: true }),
          },
        },
        'message.invalid': {
          target: 'dropped',
          actions: { type: 'assignInvalidMessage', params: ({ event }) => ({ error: event.error }) },
        },
        'protocol.returned': { target: 'dropped', actions: 'assignProtocolReturned' },
        'protocol.failed': {
          target: 'dropped',
          actions: { type: 'assignProtocolFailed', params: ({ event }) => ({ error: event.error }) },
        },
      },
      states: {
        waiting: {
          after: { pingInterval: { target: 'waiting', reenter: true, actions: 'sendPing' } },
        },
      },
    },
    dropped: {
      type: 'final',
      entry: 'closeConnection',
    },
  },
})

export type PeerMachine = typeof peerMachine
export type PeerSnapshot = SnapshotFrom<typeof peerMachine>
/** The handle protocols and the server API hand out for a peer actor (see createPeerHandle). */
export type PeerMachineHandle = PeerHandle<PeerSnapshot>
