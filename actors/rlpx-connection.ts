// One RLPx connection over one node:net Socket (devp2p rlpx.md; geth p2p/rlpx Conn and p2p/transport.go
// rlpxTransport): the EIP-8 ECIES handshake with a deadline, then framed, encrypted, optionally snappy-compressed
// messages. Small and standalone: it knows nothing of Hello, Ping or eth. Implements the peer machine's
// PeerTransport (machines/peer-actors.ts).
//
// API
//   new RlpxConnection(socket, { privateKey, remotePubkey?, ...timeouts })   remotePubkey given → initiator
//   encHandshake(signal?) → Promise<remote 64-byte pubkey>   geth doEncHandshake (5 s deadline, auth/ack ≤ 2048);
//                                        starts it once, later calls join it
//   initWithSecrets(secrets)             test seam: skip the handshake (geth Conn.InitWithSecrets)
//   messages$: Observable<Msg>           hot, multicast; decodes only while someone is subscribed (the socket is
//                                        paused otherwise, so nothing is dropped or buffered without bound, and
//                                        messages after the Hello are decoded with the snappy setting then in
//                                        force); never emits inside subscribe; errors with DecodeError /
//                                        ConnectionError; completes on clean EOF and on close()
//   send(code, payload) → Promise<void>  one socket write per frame; resolves once the socket holds at most
//                                        maxWriteBuffer bytes (else on 'drain'); later sends wait in a FIFO
//                                        bounded by maxQueuedBytes (WRITE_QUEUE_FULL beyond); see ./rlpx-writer.ts
//   setSnappy(on), close(reason?)        close sends Disconnect `[reason]` (1 s deadline) when the handshake is
//                                        done, then FIN, then destroys the socket
//   closed: Promise<{ error? }>          resolves once the socket is closed and every timer cleared
//   ingressBytes / egressBytes / ingressMessages / egressMessages
// Timeouts (geth): handshake 5 s (transport.go handshakeTimeout), read 30 s per message while someone reads
// (server.go frameReadTimeout), write 20 s while a send waits for the socket (frameWriteTimeout), Disconnect 1 s
// (transport.go discWriteTimeout). Timeout errors carry codes classify() maps to DiscReadTimeout.
// @ethereumjs/devp2p sends its Disconnect uncompressed as a bare integer while snappy is on: a Disconnect frame
// whose snappy decoding fails is delivered with its raw payload (decodeDisconnect reads both forms).
import type { Socket } from 'node:net'
import { Observable, type Subscriber } from 'rxjs'
import { DecodeError } from '../codecs/errors.ts'
import { encodeDisconnect, P2P_MSG } from '../codecs/p2p.ts'
import { FrameCoder, type RlpxMessage } from '../codecs/rlpx-frame.ts'
import {
  createAck,
  createAuth,
  type HandshakeRandomness,
  handshakePacketLength,
  type InitiatorHandshake,
  initiatorSecrets,
  readAck,
  readAuth,
  recipientSecrets,
  type Secrets,
} from '../codecs/rlpx-handshake.ts'
import type { PeerTransport } from '../machines/peer-actors.ts'
import type { Msg } from '../machines/protocol.ts'
import { ConnectionError, FrameWriter } from './rlpx-writer.ts'

export { ConnectionError, type ConnectionErrorCode } from './rlpx-writer.ts'

/** Timing and buffer limits of a connection (geth constants), in ms and bytes. */
export const connectionDefaults = {
  /** geth p2p/transport.go handshakeTimeout */
  handshakeTimeout: 5_000,
  /** geth p2p/server.go frameReadTimeout */
  readTimeout: 30_000,
  /** geth p2p/server.go frameWriteTimeout */
  writeTimeout: 20_000,
  /** geth p2p/transport.go discWriteTimeout */
  disconnectTimeout: 1_000,
  /** bytes the socket may hold before send() waits for 'drain' */
  maxWriteBuffer: 1 << 20,
  /** payload bytes of sends waiting behind a full socket before send() rejects with WRITE_QUEUE_FULL */
  maxQueuedBytes: 64 << 20,
} as const

export interface RlpxConnectionOptions {
  /** our static private key (32 bytes) */
  privateKey: Uint8Array
  /** the dialled node's 64-byte public key: we are the initiator; without it we are the recipient */
  remotePubkey?: Uint8Array
  handshakeTimeout?: number
  readTimeout?: number
  writeTimeout?: number
  disconnectTimeout?: number
  maxWriteBuffer?: number
  maxQueuedBytes?: number
  /** largest accepted frame (default 2^24−1) */
  maxFrameSize?: number
  /** largest accepted decompressed message (default 2^24−1) */
  maxMessageSize?: number
  /** clock for Msg.receivedAt (default Date.now) */
  now?: () => number
  /** test seam: handshake randomness (ephemeral key, nonce, padding) */
  randomness?: HandshakeRandomness
}

export interface ConnectionClosed {
  /** why the connection ended, when it was not a clean local close or a clean EOF */
  error?: unknown
}

type Phase = 'idle' | 'handshake' | 'open' | 'closing' | 'closed'
/** how the message stream ends once buffered messages are delivered */
type Terminal = { kind: 'complete' } | { kind: 'error'; error: unknown } | { kind: 'eof' }

const EMPTY = new Uint8Array(0)
/**
 * the connection of each socket, for the socket listeners shared by every connection. The entry is deleted when
 * the socket closes: its value references its key (the connection holds the socket), and V8's scavenger keeps
 * such an entry — and everything the connection reaches — alive until the next full GC, so every finished
 * connection would be copied and promoted instead of dying young
 */
const owners = new WeakMap<Socket, RlpxConnection>()
function socketData(this: Socket, chunk: Buffer): void {
  owners.get(this)?.onData(chunk)
}
function socketEnd(this: Socket): void {
  owners.get(this)?.onEnd()
}
function socketError(this: Socket, err: Error): void {
  owners.get(this)?.onSocketError(err)
}
function socketClose(this: Socket): void {
  owners.get(this)?.onClose()
}

export class RlpxConnection implements PeerTransport {
  readonly socket: Socket
  readonly initiator: boolean
  readonly messages$: Observable<Msg>
  /** resolves once the socket is closed (never rejects) */
  readonly closed: Promise<ConnectionClosed>
  /** the remote's 64-byte public key, after the handshake */
  remotePubkey: Uint8Array | undefined
  ingressBytes = 0
  ingressMessages = 0

  private readonly opts: RlpxConnectionOptions
  private readonly now: () => number
  private phase: Phase = 'idle'
  private coder: FrameCoder | undefined
  private hsBuf: Uint8Array = EMPTY
  private hsState: InitiatorHandshake | undefined
  private hsTimer: NodeJS.Timeout | undefined
  private hsSettle: { resolve: (pub: Uint8Array) => void; reject: (e: unknown) => void } | undefined
  private hsPromise: Promise<Uint8Array> | undefined
  private early: unknown

  // read side
  private subs: Subscriber<Msg>[] = []
  private pumpScheduled = false
  private pumping = false
  /** the coder holds only part of a frame: pumping again is useless until more bytes arrive */
  private starved = false
  private terminal: Terminal | undefined
  private ended = false
  private readTimer: NodeJS.Timeout | undefined
  private readSince = 0

  private readonly writer: FrameWriter
  private closeTimer: NodeJS.Timeout | undefined
  private closeError: unknown
  private resolveClosed!: (c: ConnectionClosed) => void

  constructor(socket: Socket, opts: RlpxConnectionOptions) {
    this.socket = socket
    this.opts = opts
    this.initiator = opts.remotePubkey !== undefined
    this.now = opts.now ?? Date.now
    this.closed = new Promise((r) => {
      this.resolveClosed = r
    })
    this.messages$ = new Observable<Msg>((sub) => this.addSubscriber(sub))
    socket.setNoDelay(true)
    // shared listeners that find their connection through `owners`: no closures per connection
    owners.set(socket, this)
    socket.on('data', socketData)
    socket.on('end', socketEnd)
    socket.on('error', socketError)
    socket.on('close', socketClose)
    this.writer = new FrameWriter(
      socket,
      (code, payload) => this.coder!.encode(code, payload),
      {
        maxWriteBuffer: opts.maxWriteBuffer ?? connectionDefaults.maxWriteBuffer,
        maxQueuedBytes: opts.maxQueuedBytes ?? connectionDefaults.maxQueuedBytes,
        writeTimeout: opts.writeTimeout ?? connectionDefaults.writeTimeout,
      },
      (error) => this.fail(error),
    )
    socket.pause()
    if (socket.destroyed) queueMicrotask(() => this.onClose())
  }

  /** bytes written to the socket (handshake packets and frames) */
  get egressBytes(): number {
    return this.writer.bytes
  }

  /** frames written (messages, Disconnect included) */
  get egressMessages(): number {
    return this.writer.messages
  }

  get snappy(): boolean {
    return this.coder?.snappy ?? false
  }

  /** true once the ECIES handshake is done and until the connection closes */
  get isOpen(): boolean {
    return this.phase === 'open'
  }

  // ── handshake ────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Start the handshake (first call) and return its promise; later calls return the same promise (and add their
   * abort signal, if any). startPeer starts it before the peer machine exists, so the auth leaves (and the
   * recipient reads) while the machine is built; the machine's pendingHandshake invoke then joins it.
   */
  encHandshake(signal?: AbortSignal): Promise<Uint8Array> {
    if (this.hsPromise) {
      if (signal) this.abortWith(signal)
      return this.hsPromise
    }
    this.hsPromise = new Promise<Uint8Array>((resolve, reject) => {
      this.hsSettle = { resolve, reject }
    })
    // the machine may abandon the promise (its own timeout): never leave it unhandled
    this.hsPromise.catch(() => {})
    if (this.phase !== 'idle') {
      this.hsFail(this.early ?? new ConnectionError('CLOSED', 'connection closed before the handshake'))
      return this.hsPromise
    }
    if (signal) {
      this.abortWith(signal)
      if (!this.hsSettle) return this.hsPromise
    }
    this.phase = 'handshake'
    const timeout = this.opts.handshakeTimeout ?? connectionDefaults.handshakeTimeout
    this.hsTimer = setTimeout(
      () => this.hsFail(new ConnectionError('HANDSHAKE_TIMEOUT', `no handshake within ${timeout} ms`)),
      timeout,
    )
    try {
      if (this.opts.remotePubkey) {
        const { packet, state } = createAuth(
          this.opts.privateKey,
          this.opts.remotePubkey,
          this.opts.randomness,
        )
        this.hsState = state
        this.writer.writeRaw(packet)
        // out now, not at the end of the tick: the remote's crypto overlaps ours
        this.writer.uncork()
      }
    } catch (e) {
      this.hsFail(e)
      return this.hsPromise
    }
    this.socket.resume()
    return this.hsPromise
  }

  /** `signal` aborting fails the handshake while it runs (the listener goes once it settles). */
  private abortWith(signal: AbortSignal): void {
    if (!this.hsSettle) return
    if (signal.aborted) {
      this.hsFail(new ConnectionError('ABORTED', 'handshake aborted'))
      return
    }
    const onAbort = () => {
      if (this.hsSettle) this.hsFail(new ConnectionError('ABORTED', 'handshake aborted'))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    const off = () => signal.removeEventListener('abort', onAbort)
    this.hsPromise!.then(off, off)
  }

  /** geth Conn.InitWithSecrets: use these secrets instead of running the handshake (tests). */
  initWithSecrets(secrets: Secrets, leftover?: Uint8Array): void {
    if (this.phase !== 'idle') throw new ConnectionError('NOT_READY', 'handshake already started')
    this.hsPromise = Promise.resolve(secrets.remotePubkey)
    this.open(secrets, leftover ?? EMPTY)
  }

  private onHandshakeData(chunk: Uint8Array): void {
    const buf = this.hsBuf.length === 0 ? chunk : Buffer.concat([this.hsBuf, chunk])
    this.hsBuf = buf
    let secrets: Secrets
    let len: number | null
    try {
      len = handshakePacketLength(buf)
      if (len === null || buf.length < len) return
      const packet = buf.subarray(0, len)
      if (this.hsState) {
        secrets = initiatorSecrets(this.hsState, readAck(this.opts.privateKey, packet))
      } else {
        const auth = readAuth(this.opts.privateKey, packet)
        const { packet: ack, state } = createAck(auth, this.opts.randomness)
        this.writer.writeRaw(ack)
        // the ack leaves before we derive our secrets: the initiator's work overlaps ours
        this.writer.uncork()
        secrets = recipientSecrets(state)
      }
    } catch (e) {
      this.hsFail(e)
      return
    }
    this.hsBuf = EMPTY
    this.hsState = undefined
    this.open(secrets, buf.subarray(len))
    this.hsSettle?.resolve(secrets.remotePubkey)
    this.hsSettle = undefined
  }

  private open(secrets: Secrets, leftover: Uint8Array): void {
    clearTimeout(this.hsTimer)
    this.hsTimer = undefined
    this.remotePubkey = secrets.remotePubkey
    this.coder = new FrameCoder(secrets, {
      maxFrameSize: this.opts.maxFrameSize,
      maxMessageSize: this.opts.maxMessageSize,
    })
    this.phase = 'open'
    if (leftover.length > 0) this.coder.push(leftover)
    this.flow()
  }

  /** The handshake failed: reject it and tear the socket down (geth closes without a Disconnect). */
  private hsFail(error: unknown): void {
    const settle = this.hsSettle
    this.hsSettle = undefined
    if (this.phase === 'handshake' || this.phase === 'idle') {
      this.early ??= error
      this.destroy(error)
    }
    settle?.reject(error)
  }

  // ── read side ────────────────────────────────────────────────────────────────────────────────────────

  private addSubscriber(sub: Subscriber<Msg>): () => void {
    this.subs = [...this.subs, sub]
    this.schedulePump()
    return () => {
      const i = this.subs.indexOf(sub)
      if (i < 0) return
      const next = this.subs.slice()
      next.splice(i, 1)
      this.subs = next
      if (next.length === 0) this.flow()
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return
    this.pumpScheduled = true
    queueMicrotask(() => {
      this.pumpScheduled = false
      this.pump()
    })
  }

  /** @internal socket listener */
  onData(chunk: Buffer): void {
    this.ingressBytes += chunk.length
    switch (this.phase) {
      case 'handshake':
        this.onHandshakeData(chunk)
        return
      case 'open':
        this.coder!.push(chunk)
        this.starved = false
        this.pump()
        return
      default:
        return // closing: the remote's last bytes are discarded
    }
  }

  /** Decode and deliver while someone is subscribed; then pause or resume the socket accordingly. */
  private pump(): void {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.subs.length > 0 && !this.ended) {
        if (!this.coder) {
          // the handshake never finished: nothing will ever arrive
          if (this.phase === 'closing' || this.phase === 'closed') this.endStream()
          break
        }
        let msg: Msg | null
        try {
          msg = this.nextMessage()
        } catch (e) {
          if (this.phase === 'open') this.fail(e)
          else {
            // already closed (a subscriber came late): end the stream with the decode error
            this.terminal = { kind: 'error', error: e }
            this.endStream()
          }
          break
        }
        if (msg === null) {
          this.starved = true
          if (this.terminal) this.endStream()
          break
        }
        this.readSince = msg.receivedAt
        const subs = this.subs
        for (let i = 0; i < subs.length; i++) subs[i]!.next(msg)
      }
      if (this.ended && this.subs.length > 0) this.endStream()
    } finally {
      this.pumping = false
    }
    this.flow()
  }

  private nextMessage(): Msg | null {
    const coder = this.coder!
    let m: RlpxMessage | null
    try {
      m = coder.read()
    } catch (e) {
      // @ethereumjs/devp2p: Disconnect sent uncompressed (a bare integer) while snappy is on
      const d = e instanceof DecodeError ? e.details : undefined
      if (!d || d.code !== P2P_MSG.disconnect || !(d.data instanceof Uint8Array)) throw e
      m = { code: P2P_MSG.disconnect, payload: d.data, wireSize: d.data.length }
    }
    if (m === null) return null
    this.ingressMessages++
    return { code: m.code, size: m.payload.length, payload: m.payload, receivedAt: this.now() }
  }

  /** Pause the socket when nobody reads; resume and keep the read deadline while someone does. */
  private flow(): void {
    const reading = this.phase === 'open' && this.subs.length > 0 && !this.terminal
    if (this.phase === 'open') {
      if (reading) this.socket.resume()
      else this.socket.pause()
    }
    if (reading) {
      if (!this.readTimer) {
        this.readSince = this.now()
        this.armReadTimer(this.opts.readTimeout ?? connectionDefaults.readTimeout)
      }
    } else if (this.readTimer) {
      clearTimeout(this.readTimer)
      this.readTimer = undefined
    }
    // a partial frame alone is no reason to pump again (that would loop in microtasks and starve the socket)
    if (
      this.phase === 'open' &&
      this.subs.length > 0 &&
      (this.terminal || (!this.starved && this.coder!.bufferedBytes > 0))
    )
      this.schedulePump()
  }

  private armReadTimer(ms: number): void {
    this.readTimer = setTimeout(() => {
      this.readTimer = undefined
      if (this.phase !== 'open' || this.subs.length === 0 || this.terminal) return
      const limit = this.opts.readTimeout ?? connectionDefaults.readTimeout
      const left = this.readSince + limit - this.now()
      if (left > 0) this.armReadTimer(left)
      else this.fail(new ConnectionError('READ_TIMEOUT', `no message within ${limit} ms`))
    }, ms)
  }

  /** Deliver the end of the stream (after every buffered message) to the current subscribers. */
  private endStream(): void {
    const t: Terminal =
      this.terminal ??
      (this.early !== undefined ? { kind: 'error', error: this.early } : { kind: 'complete' })
    this.ended = true
    const subs = this.subs
    this.subs = []
    let error: unknown
    if (t.kind === 'error') error = t.error
    else if (t.kind === 'eof' && this.coder && this.coder.bufferedBytes > 0)
      error = new ConnectionError(
        'EOF',
        `connection closed inside a frame (${this.coder.bufferedBytes} bytes)`,
      )
    for (const s of subs) {
      if (error !== undefined) s.error(error)
      else s.complete()
    }
  }

  private setTerminal(t: Terminal): void {
    if (this.terminal) return
    this.terminal = t
    if (this.readTimer) {
      clearTimeout(this.readTimer)
      this.readTimer = undefined
    }
  }

  // ── write side ───────────────────────────────────────────────────────────────────────────────────────

  send(code: number, payload: Uint8Array): Promise<void> {
    if (this.phase !== 'open' || this.terminal) {
      return Promise.reject(
        this.phase === 'idle' || this.phase === 'handshake'
          ? new ConnectionError('NOT_READY', 'send before the handshake')
          : new ConnectionError('CLOSED', 'connection closed', { cause: this.closeError }),
      )
    }
    const sent = this.writer.send(code, payload)
    // the Hello is the handshake's last leg: it leaves now rather than at the end of the tick (a tick's frames
    // are batched into one write, but after a busy microtask queue that end can be far)
    if (code === P2P_MSG.hello) this.writer.uncork()
    return sent
  }

  setSnappy(on: boolean): void {
    this.coder?.setSnappy(on)
  }

  // ── closing ──────────────────────────────────────────────────────────────────────────────────────────

  /**
   * geth rlpxTransport.close: with a reason (and the handshake done) write Disconnect `[reason]` under a 1 s
   * deadline, then close. The message stream completes at once; pending sends reject with CLOSED. Idempotent.
   */
  close(reason?: number): void {
    if (this.phase === 'closing' || this.phase === 'closed') return
    const wasOpen = this.phase === 'open'
    if (!wasOpen) {
      const settle = this.hsSettle
      this.hsSettle = undefined
      const error = new ConnectionError('CLOSED', 'connection closed during the handshake')
      this.early ??= error
      this.destroy(undefined)
      settle?.reject(error)
      if (this.subs.length > 0) this.endStream()
      return
    }
    this.phase = 'closing'
    this.setTerminal({ kind: 'complete' })
    this.endStream()
    this.writer.stop()
    if (reason === undefined || this.socket.destroyed || this.socket.writableEnded) {
      this.destroy(undefined)
      return
    }
    try {
      this.writer.writeRaw(this.coder!.encode(P2P_MSG.disconnect, encodeDisconnect(reason)), true)
    } catch {
      // a bad reason number: close without telling
    }
    this.socket.end()
    // keep reading (and discarding) until the remote's FIN, at most disconnectTimeout
    this.socket.resume()
    this.closeTimer = setTimeout(
      () => this.destroy(undefined),
      this.opts.disconnectTimeout ?? connectionDefaults.disconnectTimeout,
    )
  }

  /** A fatal error while open: end the stream with it (after nothing more) and destroy the socket. */
  private fail(error: unknown): void {
    if (this.phase === 'handshake' || this.phase === 'idle') {
      this.hsFail(error)
      return
    }
    if (this.phase !== 'open') return
    this.setTerminal({ kind: 'error', error })
    this.closeError ??= error
    this.destroy(error)
    if (this.subs.length > 0) this.endStream()
  }

  private destroy(error: unknown): void {
    if (error !== undefined) this.closeError ??= error
    if (this.phase !== 'closed') this.phase = 'closing'
    clearTimeout(this.hsTimer)
    this.hsTimer = undefined
    this.writer.stop(error)
    this.socket.destroy()
  }

  /** @internal socket listener */
  onEnd(): void {
    if (this.phase === 'handshake' || this.phase === 'idle') {
      this.hsFail(new ConnectionError('EOF', 'connection closed during the handshake'))
      return
    }
    if (this.phase === 'closing') {
      this.socket.destroy()
      return
    }
    this.setTerminal({ kind: 'eof' })
    this.flow()
  }

  /** @internal socket listener */
  onSocketError(err: Error): void {
    const error = new ConnectionError('SOCKET_ERROR', err.message, {
      cause: err,
      errno: (err as NodeJS.ErrnoException).code,
    })
    if (this.phase === 'handshake' || this.phase === 'idle') {
      this.hsFail(error)
      return
    }
    if (this.phase !== 'open') return
    this.closeError ??= error
    // messages already buffered are still delivered, then the error
    this.setTerminal({ kind: 'error', error })
    this.writer.stop(error)
    this.flow()
  }

  /** @internal socket listener */
  onClose(): void {
    if (this.phase === 'closed') return
    const wasOpen = this.phase === 'open'
    if (this.phase === 'handshake' || this.phase === 'idle') {
      this.hsFail(new ConnectionError('EOF', 'connection closed during the handshake'))
    }
    if (wasOpen) this.setTerminal({ kind: 'eof' })
    this.phase = 'closed'
    clearTimeout(this.hsTimer)
    clearTimeout(this.closeTimer)
    if (this.readTimer) clearTimeout(this.readTimer)
    this.hsTimer = this.closeTimer = this.readTimer = undefined
    this.writer.stop(this.closeError)
    this.hsBuf = EMPTY
    // buffered messages stay readable for a subscriber that has yet to come (the peer machine after a checkpoint)
    if (this.subs.length > 0) this.pump()
    owners.delete(this.socket)
    this.resolveClosed(this.closeError === undefined ? {} : { error: this.closeError })
  }
}
