// Start one peer over a real socket (DESIGN.md §1, §3 "peer", §8): an RlpxConnection as the peer machine's
// PeerTransport, the machine as a root actor with an error observer, and a handle with snapshot$, the dropped
// output and disconnect(). geth p2p/server.go SetupConn → setupConn → launchPeer, minus the server's state.
//
// API
//   startPeer({ socket, privateKey, dialDest?, protocols?, name?, localHello?, supervisor?, inspect?,
//               timeouts?, connection?, onError? }) → PeerSession
//     dialDest given → we dialled (initiator; the Hello id must match it), else inbound (recipient)
//     supervisor     receives checkpoint.postHandshake / checkpoint.addPeer; default: one shared
//                    createCheckpointSupervisor() that accepts every checkpoint
//   PeerSession { actor, connection, inbound, snapshot$, ready, dropped, closed, disconnect(reason) }
//     ready   → PeerHandle once the peer is `running` (rejects with the PeerOutput-carrying PeerDroppedError
//               if it drops first; a rejection nobody awaits is not reported as unhandled)
//     dropped → PeerOutput { reason, requestedByRemote, error? } once the machine is final (Quitting, with a
//               Disconnect sent, when someone stops the actor from outside)
//     localHello.version < 5 → the connection never compresses (we claimed not to know snappy)
//     closed  → after `dropped`, once the socket is closed and every timer of the connection cleared
//   createCheckpointSupervisor(verdict?) → a started root actor answering checkpoints (verdict returns a DiscReason
//     to reject, null to accept); `stop()` it when done.
import type { Socket } from 'node:net'
import { Observable } from 'rxjs'
import {
  type Actor,
  type AnyActorRef,
  createActor,
  fromCallback,
  type InspectionEvent,
  type Observer,
} from 'xstate'
import type { Node } from '../codecs/node.ts'
import { BASE_PROTOCOL_VERSION, DiscReason, type Hello, SNAPPY_PROTOCOL_VERSION } from '../codecs/p2p.ts'
import { staticPublicKey } from '../codecs/rlpx-handshake.ts'
import {
  type AddPeerCheckpoint,
  type PeerMachine,
  type PeerOutput,
  type PeerSnapshot,
  type PostHandshakeCheckpoint,
  peerMachine,
} from '../machines/peer.machine.ts'
import type { PeerTransport } from '../machines/peer-actors.ts'
import type { PeerHandle, Protocol } from '../machines/protocol.ts'
import { RlpxConnection, type RlpxConnectionOptions } from './rlpx-connection.ts'

/** Our client name in Hello unless told otherwise. */
export const DEFAULT_CLIENT_NAME = 'devp2p-actors/v0.1.0'

export type Checkpoint = PostHandshakeCheckpoint | AddPeerCheckpoint
export type PeerActor = Actor<PeerMachine>

/** Timeouts in ms; each overrides the geth default of the machine (delays) or the connection. */
export interface PeerTimeouts {
  /** ECIES handshake (machine delay and connection deadline), geth 5 s */
  handshake?: number
  /** Hello exchange (machine delay), geth 30 s */
  hello?: number
  /** Ping interval (machine delay), geth 15 s */
  ping?: number
  /** connection read deadline per message, geth 30 s */
  read?: number
  /** connection write deadline, geth 20 s */
  write?: number
  /** Disconnect write deadline, geth 1 s */
  disconnect?: number
}

export interface StartPeerOptions {
  socket: Socket
  privateKey: Uint8Array
  /** the node we dialled; absent for inbound connections */
  dialDest?: Pick<Node, 'id' | 'pubkey'>
  protocols?: readonly Protocol[]
  /** our client name in Hello */
  name?: string
  /** overrides of our Hello (e.g. version 4 to refuse snappy); caps default to the protocols' */
  localHello?: Partial<Hello>
  supervisor?: AnyActorRef
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  timeouts?: PeerTimeouts
  /** further connection options (limits, clock, handshake randomness) */
  connection?: Partial<Omit<RlpxConnectionOptions, 'privateKey' | 'remotePubkey'>>
  /** called when the actor itself fails (a bug, never the remote's doing) */
  onError?(error: unknown): void
}

export interface PeerSession {
  actor: PeerActor
  connection: RlpxConnection
  inbound: boolean
  snapshot$: Observable<PeerSnapshot>
  ready: Promise<PeerHandle<PeerSnapshot>>
  dropped: Promise<PeerOutput>
  closed: Promise<void>
  disconnect(reason: DiscReason): void
}

/** `ready` rejects with this when the peer dropped before running. */
export class PeerDroppedError extends Error {
  readonly output: PeerOutput
  constructor(output: PeerOutput) {
    super(`peer dropped before running: reason ${output.reason}`)
    this.name = 'PeerDroppedError'
    this.output = output
  }
}

/** A root actor that answers the peer machine's checkpoints: `verdict` → DiscReason rejects, null accepts. */
export function createCheckpointSupervisor(
  verdict: (cp: Checkpoint) => DiscReason | null = () => null,
): Actor<ReturnType<typeof fromCallback<Checkpoint>>> {
  const actor = createActor(
    fromCallback<Checkpoint>(({ receive }) => {
      receive((cp) => {
        const reason = verdict(cp)
        cp.peer.send(
          reason === null ? { type: 'checkpoint.accepted' } : { type: 'checkpoint.rejected', reason },
        )
      })
    }),
  )
  actor.subscribe({ error: () => {} })
  actor.start()
  return actor
}

/** The connection as a transport that never switches snappy on (our Hello advertises a version below 5). */
function withoutSnappy(c: RlpxConnection): PeerTransport {
  return {
    messages$: c.messages$,
    encHandshake: (signal) => c.encHandshake(signal),
    send: (code, payload) => c.send(code, payload),
    setSnappy: () => c.setSnappy(false),
    close: (reason) => c.close(reason),
  }
}

const hellos = new WeakMap<Uint8Array, Map<string, Hello>>()
/**
 * Our Hello for this key, name and protocols: one shared (never mutated) object per combination, so its encoding
 * is computed once (machines/peer-actors.ts keeps it per Hello object), as a server does with its one Hello.
 */
function defaultHello(
  privateKey: Uint8Array,
  name = DEFAULT_CLIENT_NAME,
  protocols: readonly Protocol[],
): Hello {
  let byKey = hellos.get(privateKey)
  if (!byKey) {
    byKey = new Map()
    hellos.set(privateKey, byKey)
  }
  let key = name
  for (const p of protocols) key += `\n${p.name}/${p.version}`
  // our public key, derived once per private-key object (and again if its bytes were rewritten in place)
  const id = staticPublicKey(privateKey)
  let hello = byKey.get(key)
  if (!hello || hello.id !== id) {
    hello = {
      version: BASE_PROTOCOL_VERSION,
      name,
      caps: protocols.map((p) => ({ name: p.name, version: p.version })),
      listenPort: 0,
      id,
    }
    byKey.set(key, hello)
  }
  return hello
}

/** module-level callbacks, so a peer does not create (and keep) its own copies */
const ignore = (): void => {}

let sharedSupervisor: ReturnType<typeof createCheckpointSupervisor> | undefined
/** One accept-all supervisor shared by every peer started without one (stateless; holds no timer or socket). */
function defaultSupervisor(): ReturnType<typeof createCheckpointSupervisor> {
  sharedSupervisor ??= createCheckpointSupervisor()
  return sharedSupervisor
}

export function startPeer(opts: StartPeerOptions): PeerSession {
  const t = opts.timeouts ?? {}
  const connection = new RlpxConnection(opts.socket, {
    ...opts.connection,
    privateKey: opts.privateKey,
    remotePubkey: opts.dialDest?.pubkey,
    ...(t.handshake !== undefined && { handshakeTimeout: t.handshake }),
    ...(t.read !== undefined && { readTimeout: t.read }),
    ...(t.write !== undefined && { writeTimeout: t.write }),
    ...(t.disconnect !== undefined && { disconnectTimeout: t.disconnect }),
  })
  // the handshake starts now (the auth leaves at once when we dialled), while the machine is still being built:
  // the machine's connection actor joins this same handshake (RlpxConnection.encHandshake is idempotent)
  connection.encHandshake()
  const protocols = opts.protocols ?? []
  const localHello = opts.localHello
    ? { ...defaultHello(opts.privateKey, opts.name, protocols), ...opts.localHello }
    : defaultHello(opts.privateKey, opts.name, protocols)
  // geth always advertises v5 and compresses when the remote's version is ≥ 5; a side told to advertise an
  // older version must not compress either (it claims not to know snappy)
  const transport: PeerTransport =
    localHello.version >= SNAPPY_PROTOCOL_VERSION ? connection : withoutSnappy(connection)
  const delays: Record<string, number> = {}
  if (t.handshake !== undefined) delays.handshakeTimeout = t.handshake
  if (t.hello !== undefined) delays.helloTimeout = t.hello
  if (t.ping !== undefined) delays.pingInterval = t.ping
  const machine = Object.keys(delays).length > 0 ? peerMachine.provide({ delays }) : peerMachine
  const inbound = opts.dialDest === undefined
  const actor = createActor(machine, {
    input: {
      transport,
      inbound,
      dialDest: opts.dialDest ? { id: opts.dialDest.id, pubkey: opts.dialDest.pubkey } : undefined,
      localHello,
      protocols,
      supervisor: opts.supervisor ?? (defaultSupervisor() as AnyActorRef),
    },
    ...(opts.inspect && { inspect: opts.inspect }),
  }) as PeerActor

  return new Session(actor, connection, inbound, opts.onError)
}

/**
 * startPeer's session: one object per peer whose handlers live on the prototype (an idle peer then holds this
 * object and its promises rather than a closure per handler). It observes the actor: `ready` when the machine
 * reaches `running`, `dropped` / `closed` when it is final or stopped.
 */
class Session implements PeerSession {
  readonly ready: Promise<PeerHandle<PeerSnapshot>>
  readonly dropped: Promise<PeerOutput>
  readonly closed: Promise<void>
  private settleReady: { resolve(h: PeerHandle<PeerSnapshot>): void; reject(e: unknown): void } | undefined
  private resolveDropped!: (o: PeerOutput) => void
  private resolveClosed!: () => void
  private finished = false

  constructor(
    readonly actor: PeerActor,
    readonly connection: RlpxConnection,
    readonly inbound: boolean,
    private readonly onError: ((error: unknown) => void) | undefined,
  ) {
    this.dropped = new Promise<PeerOutput>((r) => {
      this.resolveDropped = r
    })
    this.ready = new Promise<PeerHandle<PeerSnapshot>>((resolve, reject) => {
      this.settleReady = { resolve, reject }
    })
    this.ready.catch(ignore)
    // callers may pass `session.disconnect` around unbound
    this.disconnect = this.disconnect.bind(this)
    this.closed = new Promise<void>((r) => {
      this.resolveClosed = r
    })
    actor.subscribe(this)
    actor.start()
  }

  /** the actor's snapshots: the current one first, then every change until the peer ends */
  get snapshot$(): Observable<PeerSnapshot> {
    const actor = this.actor
    return new Observable<PeerSnapshot>((sub) => {
      sub.next(actor.getSnapshot())
      const s = actor.subscribe({
        next: (v) => sub.next(v),
        error: (e) => sub.error(e),
        complete: () => sub.complete(),
      })
      return () => s.unsubscribe()
    })
  }

  disconnect(reason: DiscReason): void {
    if (this.actor.getSnapshot().status === 'active') this.actor.send({ type: 'peer.disconnect', reason })
  }

  /** @internal actor observer */
  next(s: PeerSnapshot): void {
    // `running` is the only state with substates, so the only one whose value is an object; entering it the
    // machine made the protocols' handle, which `ready` hands out too
    if (this.settleReady && typeof s.value === 'object' && s.context.peer) {
      this.settleReady.resolve(s.context.peer as PeerHandle<PeerSnapshot>)
      this.settleReady = undefined
    }
  }

  /** @internal actor observer */
  complete(): void {
    const out = this.actor.getSnapshot().output
    if (out) {
      this.finish(out)
      return
    }
    // stopped from outside (actor.stop()): tell the remote we quit, like geth's server shutdown
    this.connection.close(DiscReason.Quitting)
    this.finish({ reason: DiscReason.Quitting, requestedByRemote: false })
  }

  /** @internal actor observer */
  error(error: unknown): void {
    this.onError?.(error)
    this.finish({ reason: DiscReason.NetworkError, requestedByRemote: false, error })
  }

  private finish(out: PeerOutput): void {
    if (this.finished) return
    this.finished = true
    this.connection.close()
    this.settleReady?.reject(new PeerDroppedError(out))
    this.settleReady = undefined
    this.resolveDropped(out)
    // `closed` follows `dropped`: once the socket is closed and the connection's timers cleared
    this.connection.closed.then(() => this.resolveClosed())
  }
}
