// The peer machine's effects as XState actor logic over a small transport seam (DESIGN.md §3, §3a): one
// `connection` actor per peer for the RLPx ECIES handshake, the Hello exchange (geth p2p/transport.go
// doProtoHandshake / readProtocolHandshake) and the base protocol read side (geth p2p/peer.go readLoop / handle /
// pingLoop's Pong), and one runner per matched protocol (geth Peer.startProtocols). Pure: the transport does the
// I/O; these only subscribe and call it.
import { Observable } from 'rxjs'
import { type AnyActorRef, fromCallback } from 'xstate'
import { DecodeError } from '../codecs/errors.ts'
import { weakMemo } from '../codecs/memo.ts'
import type { NodeId } from '../codecs/node.ts'
import {
  BASE_PROTOCOL_LENGTH,
  capString,
  DiscReason,
  decodeDisconnect,
  decodeHello,
  encodeHello,
  HELLO_MAX_SIZE,
  type Hello,
  P2P_MSG,
  PONG_PAYLOAD,
  SNAPPY_PROTOCOL_VERSION,
} from '../codecs/p2p.ts'
import { type Msg, type PeerHandle, type Protocol, ProtocolError, protocolRW } from './protocol.ts'

/**
 * What the peer machine needs of a connection (implemented by actors/rlpx-connection). Contract:
 * - `encHandshake` runs the RLPx ECIES handshake (initiator when the connection was dialled) and resolves with
 *   the remote 64-byte public key; it rejects when the socket fails or `signal` aborts.
 * - `messages$` carries every message after the ECIES handshake in order (Hello first). It is hot and multicast,
 *   must not emit synchronously inside `subscribe`, and must not drop messages while nobody is subscribed
 *   (between the Hello and `running` there is a gap: hold them, e.g. in a `MsgChannel`, or pause the socket).
 *   It errors with the read error (DecodeError for MAC / frame / snappy failures) and completes on clean EOF.
 * - `send(code, payload)` writes one message (absolute code), resolving when written.
 * - `setSnappy(on)` switches snappy for both directions. It is called synchronously from inside the delivery
 *   of the remote Hello (the `next` call of `messages$`), so a transport that decompresses each frame as it
 *   pushes it decodes the frames after the Hello with the new setting (geth: SetSnappy before the next read).
 * - `close(reason?)`: with a reason, send Disconnect `[reason]` (1 s deadline, only once the ECIES handshake is
 *   done) then close; without, just close. Idempotent; completes `messages$`.
 */
export interface PeerTransport {
  encHandshake(signal?: AbortSignal): Promise<Uint8Array>
  messages$: Observable<Msg>
  send(code: number, payload: Uint8Array): Promise<void>
  setSnappy(on: boolean): void
  close(reason?: DiscReason): void
}

/** geth p2p/peer.go: `pingRecv: make(chan struct{}, 16)` — at most this many Pongs owed at once. */
export const MAX_PENDING_PONGS = 16

/**
 * Read the first message as the remote's Hello (geth readProtocolHandshake): > 2048 bytes → MESSAGE_TOO_BIG
 * before decoding; Disconnect → ProtocolError REMOTE_DISCONNECT carrying its reason; any other code → BAD_HELLO
 * (DiscProtocolError); id not 64 bytes / all zero → DecodeError INVALID_IDENTITY (DiscInvalidIdentity).
 */
export function readHello(
  messages$: Observable<Msg>,
  signal?: AbortSignal,
  onHello?: (hello: Hello) => void,
): Promise<Hello> {
  const reader = helloReader(messages$, onHello)
  if (signal) {
    if (signal.aborted) reader.cancel()
    else {
      signal.addEventListener('abort', reader.cancel, { once: true })
      const off = () => signal.removeEventListener('abort', reader.cancel)
      reader.hello.then(off, off)
    }
  }
  return reader.hello
}

/** readHello's reader: `cancel()` rejects with SHUTTING_DOWN and unsubscribes (if still reading). */
function helloReader(
  messages$: Observable<Msg>,
  onHello?: (hello: Hello) => void,
): { hello: Promise<Hello>; cancel: () => void } {
  let cancel!: () => void
  const hello = new Promise<Hello>((resolve, reject) => {
    let settled = false
    const finish = (f: () => void) => {
      if (settled) return
      settled = true
      sub?.unsubscribe()
      f()
    }
    cancel = () => finish(() => reject(new ProtocolError('SHUTTING_DOWN', 'hello read aborted')))
    let sub: { unsubscribe(): void } | undefined
    sub = messages$.subscribe({
      next: (m) =>
        finish(() => {
          try {
            if (m.size > HELLO_MAX_SIZE || m.payload.length > HELLO_MAX_SIZE) {
              throw new DecodeError('MESSAGE_TOO_BIG', `hello of ${m.size} bytes`, {
                size: m.size,
                max: HELLO_MAX_SIZE,
              })
            }
            if (m.code === P2P_MSG.disconnect) {
              const reason = decodeDisconnect(m.payload) as DiscReason
              throw new ProtocolError('REMOTE_DISCONNECT', `remote sent Disconnect ${reason}`, { reason })
            }
            if (m.code !== P2P_MSG.hello) {
              throw new ProtocolError('BAD_HELLO', `expected handshake, got ${m.code.toString(16)}`, {
                reason: DiscReason.ProtocolError,
              })
            }
            const hello = decodeHello(m.payload)
            onHello?.(hello)
            resolve(hello)
          } catch (e) {
            reject(e)
          }
        }),
      error: (e) => finish(() => reject(e)),
      complete: () =>
        finish(() =>
          reject(
            new ProtocolError('CONNECTION_CLOSED', 'connection closed before Hello', {
              reason: DiscReason.NetworkError,
            }),
          ),
        ),
    })
    if (settled) sub.unsubscribe()
  })
  return { hello, cancel }
}

/** each Hello object's encoding: a node sends the same Hello (one object, see actors/peer.ts) to every peer */
const encodedHello = weakMemo(encodeHello)

/**
 * geth doProtoHandshake: send our Hello and read theirs concurrently; a read error is preferred over the write
 * error. Snappy is switched the moment a valid Hello is read — `setSnappy(version ≥ 5)`, geth
 * SetSnappy(their.Version >= snappyProtocolVersion) — before the machine checks the identity, as geth does.
 * `onCancel` receives the function that abandons the read (it then rejects with SHUTTING_DOWN).
 */
export async function protoHandshake(
  transport: PeerTransport,
  localHello: Hello,
  onCancel?: (cancel: () => void) => void,
): Promise<Hello> {
  const written = transport.send(P2P_MSG.hello, encodedHello(localHello)).then(
    () => undefined,
    (e: unknown) => ({ e }),
  )
  const reader = helloReader(transport.messages$, (h) =>
    transport.setSnappy(h.version >= SNAPPY_PROTOCOL_VERSION),
  )
  onCancel?.(reader.cancel)
  const theirs = await reader.hello
  const werr = await written
  if (werr) throw werr.e
  return theirs
}

export interface ConnectionInput {
  transport: PeerTransport
  /** our Hello, sent on `hello.start` */
  localHello: Hello
}

/** Commands the peer machine sends to its `connection` actor, each once, in this order. */
export type ConnectionCommand =
  | { type: 'hello.start' }
  /** `totalLength`: BASE_PROTOCOL_LENGTH + the lengths of all matched protocols (codes at or above are out of range) */
  | { type: 'messages.start'; totalLength: number }

/** Events the base-protocol reader sends to the peer machine (after `messages.start`). */
export type BaseProtocolEvent =
  | { type: 'disconnect.received'; reason: DiscReason }
  | { type: 'message.invalid'; error: ProtocolError }
  | { type: 'tcp.closed'; error?: unknown }

/** Events the `connection` actor sends to the peer machine. */
export type ConnectionEvent =
  | { type: 'handshake.done'; remotePubkey: Uint8Array }
  | { type: 'handshake.failed'; error: unknown }
  | { type: 'hello.received'; hello: Hello }
  | { type: 'hello.failed'; error: unknown }
  | BaseProtocolEvent

/**
 * The connection seen from the peer machine, as one actor for the peer's whole life (invoked at its root): it
 * runs the RLPx ECIES handshake at once (→ `handshake.done` with the remote public key, or `handshake.failed`),
 * the Hello exchange on `hello.start` (→ `hello.received` / `hello.failed`, see protoHandshake), and the base
 * protocol's read side on `messages.start` (see BaseProtocolReader). One actor rather than one per step: each
 * XState actor costs its creation, start, stop and done event, on every connection.
 *
 * Stopping it abandons the Hello read and unsubscribes the reader. Nothing cancels the ECIES handshake: every way
 * out of pendingHandshake ends in `dropped`, which closes the transport (and so fails the handshake), and whoever
 * stops the peer actor from outside closes the connection (actors/peer.ts, actors/server.ts).
 */
export const connectionLogic = fromCallback<ConnectionCommand, ConnectionInput>(
  ({ input, sendBack, receive }) => {
    const driver = new ConnectionDriver(input, sendBack)
    receive(driver.command)
    return driver.stop
  },
)

/** connectionLogic's state and handlers: one object per peer, its handlers on the prototype. */
class ConnectionDriver {
  stopped = false
  helloStarted = false
  /** abandons the Hello read while it runs */
  cancelHello: (() => void) | undefined
  reader: BaseProtocolReader | undefined
  /** receive() and cleanup: bound once */
  readonly command: (c: ConnectionCommand) => void
  readonly stop: () => void
  constructor(
    readonly input: ConnectionInput,
    readonly sendBack: (e: ConnectionEvent) => void,
  ) {
    this.command = this.onCommand.bind(this)
    this.stop = this.dispose.bind(this)
    let handshake: Promise<Uint8Array>
    try {
      handshake = input.transport.encHandshake()
    } catch (e) {
      handshake = Promise.reject(e)
    }
    handshake.then(
      (remotePubkey) => this.emit({ type: 'handshake.done', remotePubkey }),
      (error: unknown) => this.emit({ type: 'handshake.failed', error }),
    )
  }

  emit(e: ConnectionEvent): void {
    if (!this.stopped) this.sendBack(e)
  }

  onCommand(c: ConnectionCommand): void {
    if (this.stopped) return
    if (c.type === 'hello.start') {
      if (this.helloStarted) return
      this.helloStarted = true
      protoHandshake(this.input.transport, this.input.localHello, (cancel) => {
        this.cancelHello = cancel
      }).then(
        (hello) => {
          // the settled reader's closures are not kept for the peer's life
          this.cancelHello = undefined
          this.emit({ type: 'hello.received', hello })
        },
        (error: unknown) => {
          this.cancelHello = undefined
          this.emit({ type: 'hello.failed', error })
        },
      )
    } else if (!this.reader) {
      const reader = new BaseProtocolReader(this.input.transport, c.totalLength, this)
      this.reader = reader
      reader.sub = this.input.transport.messages$.subscribe(reader)
    }
  }

  dispose(): void {
    this.stopped = true
    this.cancelHello?.()
    this.reader?.dispose()
  }
}

/**
 * geth Peer.readLoop + handle, as one subscription: Ping → a Pong owed (at most MAX_PENDING_PONGS owed, one
 * write in flight; further Pings coalesce — geth's full pingRecv channel blocks its read loop instead);
 * Disconnect → `disconnect.received`; a second Hello → `message.invalid` (geth ignores it; the devp2p spec
 * sends Hello once); other codes < 16 ignored; codes ≥ totalLength → `message.invalid` (INVALID_MSG_CODE);
 * sub-protocol codes are left to the protocols' own subscriptions. Stream end → `tcp.closed`.
 * A class so that an idle peer holds one object whose handlers live on the prototype, instead of a closure per
 * handler (each closure is a heap object, and more under tsx keepNames).
 */
class BaseProtocolReader {
  stopped = false
  owed = 0
  writing = false
  sub: { unsubscribe(): void } | undefined
  constructor(
    readonly transport: PeerTransport,
    readonly totalLength: number,
    readonly owner: { emit(e: BaseProtocolEvent): void },
  ) {}

  emit(e: BaseProtocolEvent): void {
    if (!this.stopped) this.owner.emit(e)
  }

  pump(): void {
    if (this.writing || this.owed === 0 || this.stopped) return
    this.owed--
    this.writing = true
    // geth ignores Pong write errors (SendItems(p.rw, pongMsg)); a broken socket surfaces on the read side.
    this.transport.send(P2P_MSG.pong, PONG_PAYLOAD).then(
      () => {
        this.writing = false
        this.pump()
      },
      () => {
        this.writing = false
      },
    )
  }

  next(m: Msg): void {
    if (this.stopped) return
    switch (m.code) {
      case P2P_MSG.ping:
        if (this.owed < MAX_PENDING_PONGS) this.owed++
        this.pump()
        return
      case P2P_MSG.disconnect:
        this.emit({ type: 'disconnect.received', reason: decodeDisconnect(m.payload) as DiscReason })
        return
      case P2P_MSG.hello:
        this.emit({
          type: 'message.invalid',
          error: new ProtocolError('BAD_HELLO', 'Hello after Hello', { reason: DiscReason.ProtocolError }),
        })
        return
    }
    if (m.code < BASE_PROTOCOL_LENGTH) return
    const total = this.totalLength
    if (m.code >= total) {
      this.emit({
        type: 'message.invalid',
        error: new ProtocolError('INVALID_MSG_CODE', `msg code out of range: ${m.code}`, {
          details: { code: m.code, max: total - 1 },
        }),
      })
    }
  }

  error(error: unknown): void {
    this.emit({ type: 'tcp.closed', error })
  }

  complete(): void {
    this.emit({ type: 'tcp.closed' })
  }

  dispose(): void {
    this.stopped = true
    this.sub?.unsubscribe()
  }
}

export interface ProtocolRunnerInput {
  protocol: Protocol
  offset: number
  length: number
  messages$: Observable<Msg>
  send(code: number, payload: Uint8Array): Promise<void>
  peer: PeerHandle
}

/** Events a protocol runner sends to the peer machine. */
export type ProtocolRunnerEvent =
  | { type: 'protocol.returned'; name: string }
  | { type: 'protocol.failed'; name: string; error: unknown }

/**
 * One matched protocol (geth startProtocols' goroutine): builds its offset-rebased rw, calls `run`, reports
 * `protocol.returned` / `protocol.failed`. Stopping the runner disposes the rw (messages$ completes, sends
 * reject with SHUTTING_DOWN); late results are ignored.
 */
export const protocolRunnerLogic = fromCallback<{ type: 'noop' }, ProtocolRunnerInput>(
  ({ input, sendBack }) => new ProtocolRunner(input, sendBack).stop,
)

/** protocolRunnerLogic's state and handlers (a class for the same reason as BaseProtocolReader). */
class ProtocolRunner {
  stopped = false
  readonly name: string
  readonly rw: ReturnType<typeof protocolRW>
  /** the actor's cleanup: bound once, no closure */
  readonly stop: () => void
  constructor(
    input: ProtocolRunnerInput,
    readonly sendBack: (e: ProtocolRunnerEvent) => void,
  ) {
    this.name = input.protocol.name
    this.stop = this.dispose.bind(this)
    const failed = this.failed.bind(this)
    this.rw = protocolRW(input.messages$, {
      offset: input.offset,
      length: input.length,
      send: input.send,
      onOverflow: failed,
    })
    let running: Promise<void>
    try {
      running = Promise.resolve(input.protocol.run(input.peer, this.rw))
    } catch (e) {
      running = Promise.reject(e)
    }
    running.then(this.returned.bind(this), failed)
  }

  returned(): void {
    if (!this.stopped) this.sendBack({ type: 'protocol.returned', name: this.name })
  }

  failed(error: unknown): void {
    if (!this.stopped) this.sendBack({ type: 'protocol.failed', name: this.name, error })
  }

  dispose(): void {
    this.stopped = true
    this.rw.dispose()
  }
}

/** Static facts about a peer, known after the Hello. */
export interface PeerInfoFacts {
  id: NodeId
  pubkey: Uint8Array
  hello: Hello
  inbound: boolean
}

/**
 * A PeerHandle over a peer actor: `snapshot$` replays the current snapshot then follows the actor;
 * `disconnect(reason)` sends `peer.disconnect`. Names longer than geth's are kept whole (geth Fullname).
 */
export function createPeerHandle<TSnapshot>(
  actor: Pick<AnyActorRef, 'send' | 'subscribe' | 'getSnapshot'>,
  facts: PeerInfoFacts,
): PeerHandle<TSnapshot> {
  return new ActorPeerHandle<TSnapshot>(actor, facts)
}

/** createPeerHandle's object: every idle peer holds one, so `caps` and `snapshot$` are made when first read. */
class ActorPeerHandle<TSnapshot> implements PeerHandle<TSnapshot> {
  readonly id: NodeId
  readonly pubkey: Uint8Array
  readonly name: string
  readonly inbound: boolean
  private capStrings: string[] | undefined

  constructor(
    private readonly actor: Pick<AnyActorRef, 'send' | 'subscribe' | 'getSnapshot'>,
    private readonly facts: PeerInfoFacts,
  ) {
    this.id = facts.id
    this.pubkey = facts.pubkey
    this.name = facts.hello.name
    this.inbound = facts.inbound
    // protocols may pass `peer.disconnect` around unbound
    this.disconnect = this.disconnect.bind(this)
  }

  get caps(): string[] {
    this.capStrings ??= this.facts.hello.caps.map(capString)
    return this.capStrings
  }

  get snapshot$(): Observable<TSnapshot> {
    const actor = this.actor
    return new Observable<TSnapshot>((sub) => {
      sub.next(actor.getSnapshot() as TSnapshot)
      const s = actor.subscribe({
        next: (v: unknown) => sub.next(v as TSnapshot),
        error: (e: unknown) => sub.error(e),
        complete: () => sub.complete(),
      })
      return () => s.unsubscribe()
    })
  }

  disconnect(reason: DiscReason): void {
    this.actor.send({ type: 'peer.disconnect', reason })
  }
}
