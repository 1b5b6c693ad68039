// A hand-built discv4 conformance tester (after the public devp2p suite's test environment, geth
// cmd/devp2p/internal/v4test/framework.go): two raw UDP sockets on two loopback addresses (127.0.0.1 and
// 127.0.0.2 — both are on the Linux loopback interface), its own key, packets built with codecs/discv4, and
// reads with a 300 ms deadline (the suite's waitTime). Written from the suite's description, not its code.
import dgram from 'node:dgram'
import {
  type DecodedPacket,
  type Discv4Packet,
  decodePacket,
  type Endpoint,
  encodePacket,
  encodePacketData,
} from '../../codecs/discv4.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey, publicKeyOf, sign } from '../../crypto/secp256k1.ts'

/** The suite's waitTime. */
export const WAIT_TIME_MS = 300
/** The suite's wrongPacket type byte. */
export const WRONG_PACKET = 66
/** Packet lifetime the suite puts in its packets. */
export const EXPIRATION_S = 20

export interface Received {
  packet: Discv4Packet
  hash: Uint8Array
  raw: Uint8Array
  from: { address: string; port: number }
}

export class TesterSocket {
  private readonly queue: Array<{ data: Uint8Array; from: { address: string; port: number } }> = []
  private waiter: (() => void) | undefined
  /** every datagram received on this socket (sizes are checked by the tests) */
  readonly sizes: number[] = []

  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (msg, rinfo) => {
      this.sizes.push(msg.length)
      this.queue.push({ data: new Uint8Array(msg), from: { address: rinfo.address, port: rinfo.port } })
      this.waiter?.()
    })
  }

  static async bind(address: string): Promise<TesterSocket> {
    const sock = dgram.createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject)
      sock.bind(0, address, () => {
        sock.removeListener('error', reject)
        resolve()
      })
    })
    return new TesterSocket(sock)
  }

  get address(): { address: string; port: number } {
    const a = this.sock.address()
    return { address: a.address, port: a.port }
  }

  /** The suite's localEndpoint: our address and UDP port, TCP 0. */
  endpoint(): Endpoint {
    return { ip: this.address.address, udp: this.address.port, tcp: 0 }
  }

  sendRaw(bytes: Uint8Array, port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.sock.send(bytes, port, address, (e) => (e ? reject(e) : resolve())),
    )
  }

  /** Next packet within `timeoutMs`, or null on timeout (the suite's read with its deadline). */
  async read(timeoutMs = WAIT_TIME_MS): Promise<Received | null> {
    if (this.queue.length === 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = undefined
          resolve()
        }, timeoutMs)
        this.waiter = () => {
          clearTimeout(t)
          this.waiter = undefined
          resolve()
        }
      })
    }
    const d = this.queue.shift()
    if (!d) return null
    const dec: DecodedPacket = decodePacket(d.data)
    return { packet: dec.packet, hash: dec.hash, raw: d.data, from: d.from }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()))
  }
}

export class TestEnv {
  readonly key = generatePrivateKey()
  readonly pubkey = publicKeyOf(this.key)

  private constructor(
    readonly l1: TesterSocket,
    readonly l2: TesterSocket,
    readonly remote: { ip: string; port: number },
  ) {}

  static async create(remote: { ip: string; port: number }, listen1 = '127.0.0.1', listen2 = '127.0.0.2') {
    return new TestEnv(await TesterSocket.bind(listen1), await TesterSocket.bind(listen2), remote)
  }

  /** The suite's remoteEndpoint: the remote's address and UDP port, TCP 0. */
  remoteEndpoint(): Endpoint {
    return { ip: this.remote.ip, udp: this.remote.port, tcp: 0 }
  }

  futureExpiration(): bigint {
    return BigInt(Math.floor(Date.now() / 1000) + EXPIRATION_S)
  }

  /** Go's `-futureExpiration()` on a uint64: 2^64 − x, a value ≥ 2^63 (expired by geth's rule). */
  pastExpiration(): bigint {
    return (1n << 64n) - this.futureExpiration()
  }

  /** Encode, sign and send a packet from `c`; returns its hash. */
  async send(c: TesterSocket, packet: Discv4Packet): Promise<Uint8Array> {
    const { bytes, hash } = encodePacket(this.key, packet)
    await c.sendRaw(bytes, this.remote.port, this.remote.ip)
    return hash
  }

  /** Send a packet whose type byte is replaced (the suite's pingWrongType). */
  async sendWithType(c: TesterSocket, packet: Discv4Packet, typeByte: number): Promise<Uint8Array> {
    const data = encodePacketData(packet)
    data[0] = typeByte
    const sig = sign(keccak256(data), this.key)
    const signed = new Uint8Array(sig.length + data.length)
    signed.set(sig)
    signed.set(data, sig.length)
    const hash = keccak256(signed)
    const bytes = new Uint8Array(32 + signed.length)
    bytes.set(hash)
    bytes.set(signed, 32)
    await c.sendRaw(bytes, this.remote.port, this.remote.ip)
    return hash
  }

  async close(): Promise<void> {
    await Promise.all([this.l1.close(), this.l2.close()])
  }
}
