// geth's p2p.Protocol / Msg / MsgReadWriter / MsgPipe in RxJS terms (DESIGN.md §3a; go-ethereum p2p/protocol.go,
// p2p/message.go, p2p/peer.go protoRW), plus the peer layer's error class and the pure error → DiscReason maps
// (geth p2p/peer_error.go discReasonForError). Pure: no sockets, no timers — RxJS moves the messages.
import { Observable, type Subscriber } from 'rxjs'
import { DecodeError } from '../codecs/errors.ts'
import type { Node, NodeId } from '../codecs/node.ts'

import { DiscReason } from '../codecs/p2p.ts'

/** One received message (geth p2p.Msg); `payload` is the whole (decompressed) message body. */
export interface Msg {
  code: number
  /** payload length in bytes */
  size: number
  payload: Uint8Array
  /** ms timestamp (the connection's clock) */
  receivedAt: number
}

/** geth's MsgReadWriter: messages arrive on `messages$`, `send` resolves once the message is written. */
export interface MsgReadWriter {
  messages$: Observable<Msg>
  send(code: number, payload: Uint8Array): Promise<void>
}

/** The peer as seen by a protocol handler (and by the server's public API). */
export interface PeerHandle<TSnapshot = unknown> {
  /** 32-byte node id (keccak256 of pubkey) */
  id: NodeId
  /** 64-byte public key */
  pubkey: Uint8Array
  /** the name the remote advertised in its Hello */
  name: string
  /** remote capabilities as `name/version` (geth Cap.String) */
  caps: string[]
  inbound: boolean
  snapshot$: Observable<TSnapshot>
  disconnect(reason: DiscReason): void
}

/** geth's p2p.Protocol. `run` is started once per peer after the protocol handshake. */
export interface Protocol {
  name: string
  version: number
  /** number of message codes the protocol uses */
  length: number
  /**
   * Runs the protocol on one peer. Resolving drops the peer with DiscQuitting; rejecting drops it with the
   * reason `protocolDiscReason(error)` gives (geth discReasonForError). `rw.messages$` holds messages while
   * nobody is subscribed (as geth's unbuffered channel holds the read loop), up to a bound.
   */
  run(peer: PeerHandle, rw: MsgReadWriter): Promise<void>
  nodeInfo?(): unknown
  peerInfo?(id: NodeId): unknown
  /** ENR entries the protocol adds to the local record (geth Protocol.Attributes; eth: its fork id) */
  attributes?: Record<string, Uint8Array>
  /** later values of those entries (undefined removes one); createServer sets each on the local record (geth ln.Set) */
  attributes$?: Observable<Readonly<Record<string, Uint8Array | undefined>>>
  /**
   * Which discovered nodes are worth dialling, from their ENR (geth eth.NewNodeFilter). When a protocol has one,
   * createServer asks each node discovery finds for its record and dials only those some protocol's filter
   * accepts (geth eth/backend.go setupDiscovery)
   */
  nodeFilter?(node: Node): boolean
}

export type ProtocolErrorCode =
  /** geth errInvalidMsg → DiscProtocolError */
  | 'INVALID_MESSAGE'
  /** geth errInvalidMsgCode (out of range, or `send` with code ≥ length) → DiscProtocolError */
  | 'INVALID_MSG_CODE'
  /** the handler ends the peer with a specific reason (geth: a protocol returning a DiscReason) */
  | 'DISCONNECT'
  /** the remote sent Disconnect (requestedByRemote) */
  | 'REMOTE_DISCONNECT'
  /** send after the peer was dropped (geth ErrShuttingDown) */
  | 'SHUTTING_DOWN'
  /** read or write on a closed msgPipe (geth ErrPipeClosed) */
  | 'PIPE_CLOSED'
  /** more unread messages held for a protocol than MAX_QUEUED_MESSAGES / MAX_QUEUED_BYTES */
  | 'QUEUE_OVERFLOW'
  /** a Hello where none belongs (another code first, or a second Hello) */
  | 'BAD_HELLO'
  /** the connection ended before the Hello (carries DiscNetworkError) */
  | 'CONNECTION_CLOSED'

/** The one error class of the peer layer (machines/): a string code, and a DiscReason where one applies. */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode
  readonly reason: DiscReason | undefined
  readonly details: Record<string, unknown>
  constructor(
    code: ProtocolErrorCode,
    message?: string,
    opts: { reason?: DiscReason; details?: Record<string, unknown> } = {},
  ) {
    super(message ? `${code}: ${message}` : code)
    this.name = 'ProtocolError'
    this.code = code
    this.reason = opts.reason
    this.details = opts.details ?? {}
  }
}

function reasonOf(error: unknown): DiscReason | undefined {
  return error instanceof ProtocolError && error.reason !== undefined ? error.reason : undefined
}

/**
 * geth discReasonForError, for a protocol's run(): a carried DiscReason wins; invalid message / code →
 * DiscProtocolError; anything else (including decode errors inside the protocol, as geth's eth handler
 * wraps them) → DiscSubprotocolError. A normal return is mapped by the caller to DiscQuitting.
 */
export function protocolDiscReason(error: unknown): DiscReason {
  const carried = reasonOf(error)
  if (carried !== undefined) return carried
  if (
    error instanceof ProtocolError &&
    (error.code === 'INVALID_MESSAGE' || error.code === 'INVALID_MSG_CODE')
  ) {
    return DiscReason.ProtocolError
  }
  return DiscReason.SubprotocolError
}

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'TIMEOUT', 'READ_TIMEOUT', 'WRITE_TIMEOUT', 'HANDSHAKE_TIMEOUT'])

/**
 * Classify a connection-level failure (socket, frame, handshake) as a DiscReason: a carried reason wins;
 * malformed input from the remote (DecodeError: bad MAC, oversized frame, bad snappy, bad RLP, bad auth) and
 * peer-layer protocol errors → DiscProtocolError; timeouts → DiscReadTimeout; everything else (EOF, reset,
 * EPIPE) → DiscNetworkError. geth reports every read error in Peer.run as DiscNetworkError; we keep the finer
 * local reason, and — like geth — send no Disconnect for connection failures (see the peer machine).
 */
export function classify(error: unknown): DiscReason {
  const carried = reasonOf(error)
  if (carried !== undefined) return carried
  if (error instanceof DecodeError) {
    return error.code === 'INVALID_IDENTITY' ? DiscReason.InvalidIdentity : DiscReason.ProtocolError
  }
  if (error instanceof ProtocolError) return DiscReason.ProtocolError
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return DiscReason.ReadTimeout
  return DiscReason.NetworkError
}

/** Upper bound of messages held for a reader that is not subscribed (per protocol / pipe end). */
export const MAX_QUEUED_MESSAGES = 4096
/**
 * Upper bound of payload bytes held for a reader that is not subscribed; one message is always accepted, so a
 * maximum-size message (2^24 − 1, DESIGN.md §4) fits. geth blocks its read loop instead (TCP back-pressure);
 * with one multicast stream per connection we bound the hold and drop the peer beyond it.
 */
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024

/**
 * A message channel with geth-channel semantics in push form: delivered to every current subscriber, held in
 * order while there is none, bounded by `maxQueued` messages and `maxQueuedBytes` payload bytes (`push` returns
 * false and queues nothing when full; an empty queue always takes one message).
 * Never emits inside `subscribe`: held messages are flushed in a microtask to every subscriber present then,
 * so several consumers that subscribe in the same tick all see them; a flush stops when the last subscriber
 * leaves (the rest stays held). Usable as a connection's `messages$` source; `queued` lets it pause the socket.
 */
export class MsgChannel {
  readonly messages$: Observable<Msg>
  private readonly subscribers = new Set<Subscriber<Msg>>()
  private queue: Msg[] = []
  private head = 0
  private flushScheduled = false
  private ended: { error?: unknown; failed: boolean } | undefined

  private bytes = 0

  constructor(
    readonly maxQueued = MAX_QUEUED_MESSAGES,
    readonly maxQueuedBytes = MAX_QUEUED_BYTES,
  ) {
    this.messages$ = new Observable<Msg>((sub) => {
      this.subscribers.add(sub)
      if (this.queued > 0 || this.ended) this.scheduleFlush()
      return () => {
        this.subscribers.delete(sub)
      }
    })
  }

  get queued(): number {
    return this.queue.length - this.head
  }

  /** payload bytes held */
  get queuedBytes(): number {
    return this.bytes
  }

  /** true once complete() or error() was called */
  get closed(): boolean {
    return this.ended !== undefined
  }

  push(msg: Msg): boolean {
    if (this.ended) return false
    if (this.subscribers.size > 0 && this.queued === 0) {
      for (const s of [...this.subscribers]) s.next(msg)
      return true
    }
    if (this.queued >= this.maxQueued) return false
    if (this.queued > 0 && this.bytes + msg.payload.length > this.maxQueuedBytes) return false
    this.bytes += msg.payload.length
    this.queue.push(msg)
    if (this.subscribers.size > 0) this.scheduleFlush()
    return true
  }

  complete(): void {
    this.end({ failed: false })
  }

  error(error: unknown): void {
    this.end({ failed: true, error })
  }

  private end(e: { error?: unknown; failed: boolean }): void {
    if (this.ended) return
    this.ended = e
    if (this.queued === 0) this.finish()
    else if (this.subscribers.size > 0) this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(() => {
      this.flushScheduled = false
      this.flush()
    })
  }

  private flush(): void {
    while (this.queued > 0 && this.subscribers.size > 0) {
      const m = this.queue[this.head]!
      this.queue[this.head++] = undefined as unknown as Msg
      this.bytes -= m.payload.length
      for (const s of [...this.subscribers]) s.next(m)
    }
    if (this.queued === 0) {
      this.queue = []
      this.head = 0
      if (this.ended) this.finish()
    }
  }

  private finish(): void {
    const e = this.ended!
    const subs = [...this.subscribers]
    this.subscribers.clear()
    for (const s of subs) {
      if (e.failed) s.error(e.error)
      else s.complete()
    }
  }
}

/** A protocol's view of the peer's message stream; `dispose` is called when the peer is done. */
export interface ProtocolRW extends MsgReadWriter {
  readonly offset: number
  readonly length: number
  /** detach from upstream: messages$ completes (EOF), further sends reject with SHUTTING_DOWN */
  dispose(): void
}

export interface ProtocolRWOptions {
  offset: number
  length: number
  /** the connection's send (absolute codes) */
  send(code: number, payload: Uint8Array): Promise<void>
  maxQueued?: number
  maxQueuedBytes?: number
  /** called once when the protocol is not reading and its queue overflows */
  onOverflow?(error: ProtocolError): void
}

/**
 * geth's protoRW: subscribes to `upstream$` at once, keeps codes in [offset, offset+length) rebased to 0, and
 * holds them while the protocol has no subscriber. Upstream end or failure completes `messages$` (geth hands
 * protocols io.EOF; the peer machine learns the failure itself). `send` rejects codes ≥ length with
 * INVALID_MSG_CODE and adds the offset.
 */
export function protocolRW(upstream$: Observable<Msg>, opts: ProtocolRWOptions): ProtocolRW {
  return new ProtoRW(upstream$, opts)
}

/**
 * protocolRW's object: one per protocol per peer, so a class (methods on the prototype, the instance is its own
 * upstream observer) rather than a closure per handler — an idle peer holds fewer objects.
 */
class ProtoRW implements ProtocolRW {
  readonly offset: number
  readonly length: number
  readonly messages$: Observable<Msg>
  private readonly channel: MsgChannel
  private readonly opts: ProtocolRWOptions
  private readonly sub: { unsubscribe(): void }
  private overflowed = false
  private disposed = false

  constructor(upstream$: Observable<Msg>, opts: ProtocolRWOptions) {
    this.offset = opts.offset
    this.length = opts.length
    this.opts = opts
    this.channel = new MsgChannel(opts.maxQueued, opts.maxQueuedBytes)
    this.messages$ = this.channel.messages$
    // protocols may pass `rw.send` around unbound (`const { send } = rw`)
    this.send = this.send.bind(this)
    this.sub = upstream$.subscribe(this)
  }

  /** @internal upstream observer */
  next(m: Msg): void {
    const { offset, channel } = this
    if (m.code < offset || m.code >= offset + this.length) return
    if (channel.push(offset === 0 ? m : { ...m, code: m.code - offset })) return
    if (channel.closed || this.overflowed) return
    this.overflowed = true
    const err = new ProtocolError('QUEUE_OVERFLOW', 'too many unread messages', {
      details: { queued: channel.queued, queuedBytes: channel.queuedBytes },
    })
    channel.error(err)
    this.opts.onOverflow?.(err)
  }

  /** @internal upstream observer: the peer machine learns a failure itself; the protocol sees EOF */
  error(): void {
    this.channel.complete()
  }

  /** @internal upstream observer */
  complete(): void {
    this.channel.complete()
  }

  send(code: number, payload: Uint8Array): Promise<void> {
    if (this.disposed) return Promise.reject(new ProtocolError('SHUTTING_DOWN', 'peer is shutting down'))
    const { length } = this
    if (!Number.isInteger(code) || code < 0 || code >= length) {
      return Promise.reject(
        new ProtocolError('INVALID_MSG_CODE', `code ${code} not handled (length ${length})`, {
          details: { code, length },
        }),
      )
    }
    return this.opts.send(code + this.offset, payload)
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.sub.unsubscribe()
    this.channel.complete()
  }
}

/** One end of an in-memory message pipe. */
export interface MsgPipeEnd extends MsgReadWriter {
  /** closes both ends: pending and later sends reject with PIPE_CLOSED, both messages$ complete */
  close(): void
}

/**
 * geth's p2p.MsgPipe: two connected MsgReadWriters for testing protocol handlers without sockets. Unlike geth's
 * rendezvous WriteMsg, `send` resolves once the message is delivered or queued (held until the other end
 * subscribes, in order); the payload is not copied.
 */
export function msgPipe(opts: { maxQueued?: number; now?: () => number } = {}): [MsgPipeEnd, MsgPipeEnd] {
  const now = opts.now ?? (() => 0)
  const a = new MsgChannel(opts.maxQueued)
  const b = new MsgChannel(opts.maxQueued)
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    a.complete()
    b.complete()
  }
  const end = (inbox: MsgChannel, outbox: MsgChannel): MsgPipeEnd => ({
    messages$: inbox.messages$,
    send(code, payload) {
      if (closed)
        return Promise.reject(new ProtocolError('PIPE_CLOSED', 'read or write on closed message pipe'))
      const msg: Msg = { code, size: payload.length, payload, receivedAt: now() }
      if (!outbox.push(msg)) {
        return Promise.reject(new ProtocolError('QUEUE_OVERFLOW', 'too many unread messages'))
      }
      return Promise.resolve()
    },
    close,
  })
  return [end(a, b), end(b, a)]
}
