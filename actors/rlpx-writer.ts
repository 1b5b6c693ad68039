// The write side of an RLPx connection (actors/rlpx-connection.ts), and the connection layer's error class.
// geth writes each frame with one Write under frameWriteTimeout (p2p/transport.go WriteMsg); here: one socket
// write per whole frame, resolved while the socket holds at most maxWriteBuffer bytes (else on 'drain'), later
// sends wait unencoded in a FIFO bounded by maxQueuedBytes (the cipher/MAC state is sequential, so frames are
// encoded in write order), and a send waiting longer than writeTimeout fails the connection (WRITE_TIMEOUT).
import type { Socket } from 'node:net'

export type ConnectionErrorCode =
  /** the ECIES handshake did not finish in time (→ DiscReadTimeout) */
  | 'HANDSHAKE_TIMEOUT'
  /** no whole message within readTimeout while a reader waited (→ DiscReadTimeout) */
  | 'READ_TIMEOUT'
  /** a send waited for the socket longer than writeTimeout (→ DiscReadTimeout, as classify maps timeouts) */
  | 'WRITE_TIMEOUT'
  /** the remote closed the connection mid-packet or mid-frame (→ DiscNetworkError) */
  | 'EOF'
  /** a socket error; `details.cause` holds it, `details.errno` its code (→ DiscNetworkError) */
  | 'SOCKET_ERROR'
  /** the connection was closed (pending sends, handshake); `details.cause` holds why, if known */
  | 'CLOSED'
  /** encHandshake's signal aborted */
  | 'ABORTED'
  /** send before the handshake finished, or a second handshake */
  | 'NOT_READY'
  /** more than maxQueuedBytes waiting behind a full socket */
  | 'WRITE_QUEUE_FULL'

/** The one error class of the connection layer. */
export class ConnectionError extends Error {
  readonly code: ConnectionErrorCode
  readonly details: Record<string, unknown>
  constructor(code: ConnectionErrorCode, message?: string, details: Record<string, unknown> = {}) {
    super(message ? `${code}: ${message}` : code)
    this.name = 'ConnectionError'
    this.code = code
    this.details = details
  }
}

export interface FrameWriterOptions {
  maxWriteBuffer: number
  maxQueuedBytes: number
  writeTimeout: number
}

interface PendingSend {
  code: number
  payload: Uint8Array
  resolve: () => void
  reject: (e: unknown) => void
}

const RESOLVED: Promise<void> = Promise.resolve()
/** a tick's frames are flushed early once this many bytes wait in the corked socket */
const CORK_FLUSH_BYTES = 64 * 1024

/**
 * the writer of each socket, for the 'drain' listener shared by every writer (no closure per connection); deleted
 * on stop, as actors/rlpx-connection.ts deletes its `owners` entry (a value that references its key keeps the
 * entry alive through V8's scavenges)
 */
const writers = new WeakMap<Socket, FrameWriter>()
function onSocketDrain(this: Socket): void {
  writers.get(this)?.onDrain()
}
const uncorkWriter = (w: FrameWriter) => w.uncork()

export class FrameWriter {
  /** bytes handed to the socket (handshake packets and frames) */
  bytes = 0
  /** frames handed to the socket */
  messages = 0
  private queue: PendingSend[] = []
  private queuedBytes = 0
  private drainWaiter: { resolve: () => void; reject: (e: unknown) => void } | undefined
  private writeTimer: NodeJS.Timeout | undefined
  private stopped = false
  /** the socket is corked until the next tick: frames written in one tick leave in one writev */
  private corked = false

  constructor(
    private readonly socket: Socket,
    /** seals one message into a frame (the connection's FrameCoder.encode) */
    private readonly encode: (code: number, payload: Uint8Array) => Uint8Array,
    private readonly opts: FrameWriterOptions,
    /** called once when a send waited longer than writeTimeout */
    private readonly onTimeout: (error: ConnectionError) => void,
  ) {
    writers.set(socket, this)
    socket.on('drain', onSocketDrain)
  }

  /** Encode and write one message now, or queue it behind a full socket. The caller checked the state. */
  send(code: number, payload: Uint8Array): Promise<void> {
    if (this.stopped) return Promise.reject(new ConnectionError('CLOSED', 'connection closed'))
    if (this.drainWaiter || this.queue.length > 0) {
      const max = this.opts.maxQueuedBytes
      if (this.queuedBytes + payload.length > max && this.queue.length > 0) {
        return Promise.reject(
          new ConnectionError('WRITE_QUEUE_FULL', `more than ${max} bytes waiting`, {
            queued: this.queuedBytes,
          }),
        )
      }
      return new Promise<void>((resolve, reject) => {
        this.queue.push({ code, payload, resolve, reject })
        this.queuedBytes += payload.length
      })
    }
    let frame: Uint8Array
    try {
      frame = this.encode(code, payload)
    } catch (e) {
      return Promise.reject(e)
    }
    return this.writeFrame(frame)
  }

  /** Write bytes as they are (handshake packets, the final Disconnect), skipping the queue. */
  writeRaw(bytes: Uint8Array, isFrame = false): void {
    if (this.socket.destroyed || this.socket.writableEnded) return
    this.bytes += bytes.length
    if (isFrame) this.messages++
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      process.nextTick(uncorkWriter, this)
    }
    this.socket.write(bytes)
    if (this.socket.writableLength >= CORK_FLUSH_BYTES) this.uncork()
  }

  /** Stop: reject the drain waiter and every queued send (`error` undefined → CLOSED, built only if needed). */
  stop(error?: unknown, cause?: unknown): void {
    this.stopped = true
    writers.delete(this.socket)
    // frames written this tick leave now, as they would have without the cork (a destroy may follow)
    this.uncork()
    const w = this.drainWaiter
    this.drainWaiter = undefined
    if (this.writeTimer) clearTimeout(this.writeTimer)
    this.writeTimer = undefined
    if (!w && this.queue.length === 0) return
    const e = error ?? new ConnectionError('CLOSED', 'connection closed', { cause })
    w?.reject(e)
    const q = this.queue
    this.queue = []
    this.queuedBytes = 0
    for (const p of q) p.reject(e)
  }

  /** One whole frame: RESOLVED while the socket buffer is under the bound, else wait for 'drain'. */
  private writeFrame(frame: Uint8Array): Promise<void> {
    this.writeRaw(frame, true)
    // at least the stream's high-water mark: below it write() returns true and no 'drain' would come
    const limit = Math.max(this.opts.maxWriteBuffer, this.socket.writableHighWaterMark)
    if (this.socket.writableLength <= limit) return RESOLVED
    return new Promise<void>((resolve, reject) => {
      this.drainWaiter = { resolve, reject }
      const ms = this.opts.writeTimeout
      this.writeTimer = setTimeout(() => {
        this.writeTimer = undefined
        this.onTimeout(new ConnectionError('WRITE_TIMEOUT', `socket not writable for ${ms} ms`))
      }, ms)
    })
  }

  /** lift this tick's cork (process.nextTick, early at CORK_FLUSH_BYTES, stop) */
  uncork(): void {
    if (this.corked) this.socket.uncork()
    this.corked = false
  }

  /** @internal the socket's 'drain' */
  onDrain(): void {
    const w = this.drainWaiter
    if (!w) return
    this.drainWaiter = undefined
    clearTimeout(this.writeTimer)
    this.writeTimer = undefined
    w.resolve()
    while (this.queue.length > 0 && !this.drainWaiter && !this.stopped) {
      const p = this.queue.shift()!
      this.queuedBytes -= p.payload.length
      let frame: Uint8Array
      try {
        frame = this.encode(p.code, p.payload)
      } catch (e) {
        p.reject(e)
        continue
      }
      this.writeFrame(frame).then(p.resolve, p.reject)
    }
  }
}
