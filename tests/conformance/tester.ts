// A hand-built discv4 conformance tester (after the public devp2p suite's test environment, geth
// cmd/devp2p/internal/v4test/framework.go): two raw UDP sockets on two loopback addresses (127.0.0.1 and
// 127.0.0.2 — both are on the Linux loopback interface), its own key, packets built with codecs/discv4, and
// reads with a 300 ms deadline (the suite's waitTime), and the suite's 15 tests as DISCV4_TESTS, so that they can
// run against our service and against other implementations. Written from the suite's description, not its code.
import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import { equalBytes } from '../../codecs/bytes.ts'
import {
  type DecodedPacket,
  type Discv4Packet,
  decodePacket,
  type Endpoint,
  encodePacket,
  encodePacketData,
  isExpired,
  type NeighborsPacket,
  type PingPacket,
} from '../../codecs/discv4.ts'
import { decodeEnr, enrNodeId } from '../../codecs/enr.ts'
import type { NodeId } from '../../codecs/node.ts'
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

// ---------------------------------------------------------------------------------------------------------
// The public discv4 test list (geth cmd/devp2p/internal/v4test/discv4tests.go AllTests), each test a function
// of a fresh TestEnv that throws (node:assert) on failure. What each sends and expects follows the suite.

export interface ConformanceTest {
  name: string
  /** `remoteId` is the node id of the node under test (ENRRequest checks the record's id) */
  run(te: TestEnv, remoteId: NodeId): Promise<void>
}

export function ping(te: TestEnv, from = te.l1.endpoint(), to = te.remoteEndpoint()): PingPacket {
  return { type: 'ping', version: 4, from, to, expiration: te.futureExpiration() }
}

export const WRONG_ENDPOINT = { ip: '192.0.2.0', udp: 0, tcp: 0 }

export function checkPong(te: TestEnv, reply: Received | null, pingHash: Uint8Array): void {
  assert.ok(reply, 'expected PONG reply, got nothing')
  assert.equal(reply.packet.type, 'pong', `expected PONG reply, got ${reply.packet.type}`)
  if (reply.packet.type !== 'pong') return
  assert.ok(equalBytes(reply.packet.replyTok, pingHash), 'PONG reply token mismatch')
  const want = te.l1.endpoint()
  assert.equal(reply.packet.to.ip, want.ip, "PONG 'to' IP must be the UDP source")
  assert.equal(reply.packet.to.udp, want.udp, "PONG 'to' port must be the UDP source port")
  assert.ok(!isExpired(reply.packet.expiration, Date.now() / 1000), 'PONG is expired')
}

/** Exactly one PING and one PONG in the next two reads (the suite's checkPingPong). */
async function checkPingPong(te: TestEnv, pingHash: Uint8Array): Promise<void> {
  let pings = 0
  let pongs = 0
  for (let i = 0; i < 2; i++) {
    const r = await te.l1.read()
    assert.ok(r, 'read timeout')
    if (r.packet.type === 'pong') {
      checkPong(te, r, pingHash)
      pongs++
    } else if (r.packet.type === 'ping') pings++
    else assert.fail(`expected PING or PONG, got ${r.packet.type}`)
  }
  assert.deepEqual({ pings, pongs }, { pings: 1, pongs: 1 })
}

export async function expectNothing(c: TesterSocket, allow: string[] = []): Promise<void> {
  for (;;) {
    const r = await c.read()
    if (!r) return
    assert.ok(allow.includes(r.packet.type), `expected no reply, got ${r.packet.type}`)
  }
}

/** The suite's bond: PING, answer their PING with a correct PONG, check their PONG. */
export async function bond(te: TestEnv): Promise<void> {
  const pingHash = await te.send(te.l1, ping(te))
  let gotPing = false
  let gotPong = false
  while (!gotPing || !gotPong) {
    const r = await te.l1.read()
    assert.ok(r, 'read timeout while bonding')
    if (r.packet.type === 'ping') {
      await te.send(te.l1, {
        type: 'pong',
        to: te.remoteEndpoint(),
        replyTok: r.hash,
        expiration: te.futureExpiration(),
      })
      gotPing = true
    } else if (r.packet.type === 'pong') {
      checkPong(te, r, pingHash)
      gotPong = true
    }
  }
}

export const DISCV4_TESTS: readonly ConformanceTest[] = [
  {
    name: 'Ping/Basic',
    run: async (te) => {
      await checkPingPong(te, await te.send(te.l1, ping(te)))
    },
  },
  {
    name: 'Ping/WrongTo',
    run: async (te) => {
      await checkPingPong(te, await te.send(te.l1, ping(te, te.l1.endpoint(), WRONG_ENDPOINT)))
    },
  },
  {
    name: 'Ping/WrongFrom',
    run: async (te) => {
      await checkPingPong(te, await te.send(te.l1, ping(te, WRONG_ENDPOINT)))
    },
  },
  {
    name: 'Ping/ExtraData',
    run: async (te) => {
      // pingWithJunk: JunkData1 uint 42 (read as the EIP-868 seq position) and JunkData2 bytes
      const p: PingPacket = { ...ping(te), enrSeq: 42n, extra: [new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1])] }
      await checkPingPong(te, await te.send(te.l1, p))
    },
  },
  {
    name: 'Ping/ExtraDataWrongFrom',
    run: async (te) => {
      const p: PingPacket = {
        ...ping(te, WRONG_ENDPOINT),
        enrSeq: 42n,
        extra: [new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1])],
      }
      await checkPingPong(te, await te.send(te.l1, p))
    },
  },
  {
    name: 'Ping/PastExpiration',
    run: async (te) => {
      await te.send(te.l1, { ...ping(te), expiration: te.pastExpiration() })
      assert.equal(await te.l1.read(), null, 'expected no reply')
    },
  },
  {
    name: 'Ping/WrongPacketType',
    run: async (te) => {
      await te.sendWithType(te.l1, ping(te), WRONG_PACKET)
      assert.equal(await te.l1.read(), null, 'expected no reply')
    },
  },
  {
    name: 'Ping/BondThenPingWithWrongFrom',
    run: async (te) => {
      await bond(te)
      const pingHash = await te.send(te.l1, ping(te, WRONG_ENDPOINT))
      for (;;) {
        const r = await te.l1.read()
        assert.ok(r, 'read timeout')
        if (r.packet.type === 'findnode') continue
        checkPong(te, r, pingHash)
        break
      }
    },
  },
  {
    name: 'ENRRequest',
    run: async (te, remoteId) => {
      await bond(te)
      const hash = await te.send(te.l1, { type: 'enrRequest', expiration: te.futureExpiration() })
      const r = await te.l1.read()
      assert.ok(r, 'read timeout')
      assert.equal(r.packet.type, 'enrResponse')
      if (r.packet.type !== 'enrResponse') return
      assert.ok(equalBytes(r.packet.replyTok, hash), 'wrong hash in response packet')
      const rec = decodeEnr(r.packet.record) // verifies the signature
      assert.ok(equalBytes(enrNodeId(rec), remoteId), 'wrong node ID in response')
    },
  },
  {
    name: 'Findnode/WithoutEndpointProof',
    run: async (te) => {
      await te.send(te.l1, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.futureExpiration(),
      })
      await expectNothing(te.l1, ['ping'])
    },
  },
  {
    name: 'Findnode/BasicFindnode',
    run: async (te) => {
      await bond(te)
      await te.send(te.l1, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.futureExpiration(),
      })
      const r = await te.l1.read()
      assert.ok(r, 'read find nodes: timeout')
      assert.equal(r.packet.type, 'neighbors')
    },
  },
  {
    name: 'Findnode/UnsolicitedNeighbors',
    run: async (te) => {
      await bond(te)
      const fakeKey = publicKeyOf(generatePrivateKey())
      await te.send(te.l1, {
        type: 'neighbors',
        nodes: [{ ip: '1.2.3.4', udp: 30303, tcp: 30303, pubkey: fakeKey }],
        expiration: te.futureExpiration(),
      })
      await te.send(te.l1, { type: 'findnode', target: fakeKey, expiration: te.futureExpiration() })
      const r = await te.l1.read()
      assert.ok(r, 'read find nodes: timeout')
      assert.equal(r.packet.type, 'neighbors')
      const nodes = (r.packet as NeighborsPacket).nodes
      assert.ok(!nodes.some((n) => equalBytes(n.pubkey, fakeKey)), 'unsolicited neighbour was inserted')
    },
  },
  {
    name: 'Findnode/PastExpiration',
    run: async (te) => {
      await bond(te)
      await te.send(te.l1, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.pastExpiration(),
      })
      for (;;) {
        const r = await te.l1.read()
        if (!r) break
        assert.notEqual(r.packet.type, 'neighbors', 'NEIGHBORS for an expired FINDNODE')
      }
    },
  },
  {
    name: 'Amplification/InvalidPongHash',
    run: async (te) => {
      await te.send(te.l1, ping(te))
      let gotPing = false
      let gotPong = false
      while (!gotPing || !gotPong) {
        const r = await te.l1.read()
        assert.ok(r, 'read timeout')
        if (r.packet.type === 'ping') {
          await te.send(te.l1, {
            type: 'pong',
            to: te.remoteEndpoint(),
            replyTok: new Uint8Array(32),
            expiration: te.futureExpiration(),
          })
          gotPing = true
        } else if (r.packet.type === 'pong') gotPong = true
      }
      await te.send(te.l1, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.futureExpiration(),
      })
      const r = await te.l1.read()
      assert.ok(r === null || r.packet.type !== 'neighbors', 'got NEIGHBORS without a valid endpoint proof')
    },
  },
  {
    name: 'Amplification/WrongIP',
    run: async (te) => {
      await bond(te)
      await te.send(te.l2, {
        type: 'findnode',
        target: publicKeyOf(generatePrivateKey()),
        expiration: te.futureExpiration(),
      })
      assert.equal(await te.l2.read(), null, 'got NEIGHBORS for FINDNODE from the wrong IP')
    },
  },
]
