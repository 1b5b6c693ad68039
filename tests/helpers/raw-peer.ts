// A scriptable RLPx endpoint for hostile-input and wire-level tests, built from our pure codecs (rlpx-handshake,
// FrameCoder) over a raw node:net Socket: it can run either side of the ECIES handshake honestly, then write any
// bytes or frames it likes (bad MACs, oversized headers, raw snappy) and read what our peer answers.
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { concatBytes } from '../../codecs/bytes.ts'
import { decodeDisconnect, encodeHello, type Hello, P2P_MSG } from '../../codecs/p2p.ts'
import { FrameCoder, type RlpxMessage } from '../../codecs/rlpx-frame.ts'
import {
  createAck,
  createAuth,
  handshakePacketLength,
  initiatorSecrets,
  readAck,
  readAuth,
  recipientSecrets,
} from '../../codecs/rlpx-handshake.ts'
import { dial, type Keys } from './peers.ts'

export class RawPeer {
  readonly socket: Socket
  coder: FrameCoder | undefined
  private buf: Uint8Array = new Uint8Array(0)
  private waiters: (() => void)[] = []
  private ended = false
  readonly closed: Promise<void>

  constructor(socket: Socket) {
    this.socket = socket
    socket.setNoDelay(true)
    this.closed = once(socket, 'close').then(() => undefined)
    socket.on('data', (c: Buffer) => {
      if (this.coder) this.coder.push(c)
      else this.buf = concatBytes(this.buf, c)
      this.wake()
    })
    socket.on('end', () => {
      this.ended = true
      this.wake()
    })
    socket.on('error', () => {
      this.ended = true
      this.wake()
    })
    socket.on('close', () => {
      this.ended = true
      this.wake()
    })
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  private more(): Promise<void> {
    if (this.ended) return Promise.reject(new Error('raw peer: connection ended'))
    return new Promise((r) => this.waiters.push(r))
  }

  /** Dial 127.0.0.1:port and run the initiator handshake towards `remotePub`. */
  static async dial(port: number, keys: Keys, remotePub: Uint8Array): Promise<RawPeer> {
    const p = new RawPeer(dial(port))
    await p.initiate(keys, remotePub)
    return p
  }

  async initiate(keys: Keys, remotePub: Uint8Array): Promise<void> {
    const { packet, state } = createAuth(keys.priv, remotePub)
    this.write(packet)
    const ack = await this.readPacket()
    this.open(initiatorSecrets(state, readAck(keys.priv, ack)))
  }

  async respond(keys: Keys): Promise<void> {
    const auth = readAuth(keys.priv, await this.readPacket())
    const { packet, state } = createAck(auth)
    this.write(packet)
    this.open(recipientSecrets(state))
  }

  private async readPacket(): Promise<Uint8Array> {
    for (;;) {
      const len = handshakePacketLength(this.buf)
      if (len !== null && this.buf.length >= len) {
        const packet = this.buf.subarray(0, len)
        this.buf = this.buf.subarray(len)
        return packet
      }
      await this.more()
    }
  }

  private open(secrets: ConstructorParameters<typeof FrameCoder>[0]): void {
    this.coder = new FrameCoder(secrets)
    if (this.buf.length > 0) this.coder.push(this.buf)
    this.buf = new Uint8Array(0)
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(bytes)
  }

  /** An encoded frame (with the coder's snappy setting). */
  frame(code: number, payload: Uint8Array): Uint8Array {
    return this.coder!.encode(code, payload)
  }

  send(code: number, payload: Uint8Array): void {
    this.write(this.frame(code, payload))
  }

  sendHello(hello: Hello): void {
    this.send(P2P_MSG.hello, encodeHello(hello))
  }

  /** The next message from the remote (throws the coder's DecodeError, or when the connection ends first). */
  async read(): Promise<RlpxMessage> {
    for (;;) {
      const m = this.coder!.read()
      if (m) return m
      await this.more()
    }
  }

  /** Read until a Disconnect arrives and return its reason (other messages are skipped). */
  async readDisconnect(): Promise<number> {
    for (;;) {
      const m = await this.read()
      if (m.code === P2P_MSG.disconnect) return decodeDisconnect(m.payload)
    }
  }

  /** Read messages until the remote closes; returns them. */
  async readUntilClose(): Promise<RlpxMessage[]> {
    const out: RlpxMessage[] = []
    for (;;) {
      try {
        out.push(await this.read())
      } catch {
        return out
      }
    }
  }

  destroy(): Promise<void> {
    this.socket.destroy()
    return this.closed
  }
}
