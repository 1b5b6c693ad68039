// Unit tests of the peer machine with its default actors (machines/peer-actors.ts) over an in-memory fake
// transport: the whole lifecycle, the base protocol (Ping/Pong, Disconnect echo, code range, ping flood),
// protocol run → reason mapping, timeouts on SimulatedClock, and the checkpoint flow through a real parent.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { firstValueFrom, toArray } from 'rxjs'
import { type AnyActorRef, createActor, fromCallback, SimulatedClock, sendTo, setup } from 'xstate'
import { bytesToHex } from '../../../codecs/bytes.ts'
import {
  DiscReason,
  decodeHello,
  encodeDisconnect,
  encodeHello,
  type Hello,
  P2P_MSG,
} from '../../../codecs/p2p.ts'
import { keccak256 } from '../../../crypto/keccak.ts'
import {
  type AddPeerCheckpoint,
  type PeerInput,
  type PeerOutput,
  type PostHandshakeCheckpoint,
  peerDefaults,
  peerMachine,
} from '../../../machines/peer.machine.ts'
import { MAX_PENDING_PONGS, type PeerTransport } from '../../../machines/peer-actors.ts'
import {
  MsgChannel,
  type MsgReadWriter,
  type PeerHandle,
  type Protocol,
  ProtocolError,
} from '../../../machines/protocol.ts'

const PUB = new Uint8Array(64).fill(7)
const OUR = new Uint8Array(64).fill(3)
const tick = () => new Promise<void>((r) => setImmediate(r))

function deferred<T>() {
  let res!: (v: T) => void
  let rej!: (e: unknown) => void
  const promise = new Promise<T>((a, b) => {
    res = a
    rej = b
  })
  return { promise, res, rej }
}

class FakeTransport implements PeerTransport {
  readonly inbox = new MsgChannel()
  readonly messages$ = this.inbox.messages$
  readonly hs = deferred<Uint8Array>()
  sent: { code: number; payload: Uint8Array }[] = []
  snappy: boolean[] = []
  closes: (number | undefined)[] = []
  inFlight = 0
  maxInFlight = 0
  /** how a write completes; default: at once */
  writeDelay: () => Promise<void> = () => Promise.resolve()
  encHandshake() {
    return this.hs.promise
  }
  async send(code: number, payload: Uint8Array) {
    this.sent.push({ code, payload })
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      await this.writeDelay()
    } finally {
      this.inFlight--
    }
  }
  setSnappy(on: boolean) {
    this.snappy.push(on)
  }
  close(reason?: number) {
    this.closes.push(reason)
    this.inbox.complete()
  }
  deliver(code: number, payload: Uint8Array) {
    assert.ok(this.inbox.push({ code, size: payload.length, payload, receivedAt: 0 }))
  }
  codes() {
    return this.sent.map((s) => s.code)
  }
}

const helloFrom = (id: Uint8Array, version = 5, caps = [{ name: 'eth', version: 68 }]): Hello => ({
  version,
  name: 'remote/v1',
  caps,
  listenPort: 0,
  id,
})
const LOCAL_HELLO: Hello = helloFrom(OUR)

type Verdict = { type: 'checkpoint.accepted' } | { type: 'checkpoint.rejected'; reason: DiscReason }
interface Harness {
  actor: ReturnType<typeof createActor<typeof peerMachine>>
  t: FakeTransport
  clock: SimulatedClock
  checkpoints: (PostHandshakeCheckpoint | AddPeerCheckpoint)[]
  errors: unknown[]
  output(): PeerOutput | undefined
  /** run until running: enc handshake, both checkpoints accepted, their Hello delivered */
  toRunning(hello?: Hello): Promise<void>
}

function startPeer(
  opts: {
    input?: Partial<PeerInput>
    protocols?: Protocol[]
    verdict?: (e: PostHandshakeCheckpoint | AddPeerCheckpoint) => Verdict | undefined
  } = {},
): Harness {
  const t = new FakeTransport()
  const clock = new SimulatedClock()
  const checkpoints: (PostHandshakeCheckpoint | AddPeerCheckpoint)[] = []
  const supervisor = createActor(
    fromCallback(({ receive }) =>
      receive((e: PostHandshakeCheckpoint | AddPeerCheckpoint) => {
        checkpoints.push(e)
        const v = opts.verdict ? opts.verdict(e) : { type: 'checkpoint.accepted' as const }
        if (v) e.peer.send(v)
      }),
    ),
  )
  supervisor.subscribe({ error: (e) => assert.fail(e as Error) })
  supervisor.start()
  const actor = createActor(peerMachine, {
    clock,
    input: {
      transport: t,
      inbound: true,
      localHello: LOCAL_HELLO,
      protocols: opts.protocols ?? [],
      supervisor: supervisor as AnyActorRef,
      ...opts.input,
    },
  })
  const errors: unknown[] = []
  actor.subscribe({ error: (e) => errors.push(e), complete: () => supervisor.stop() })
  actor.start()
  return {
    actor,
    t,
    clock,
    checkpoints,
    errors,
    output: () => actor.getSnapshot().output,
    async toRunning(hello = helloFrom(PUB)) {
      t.hs.res(PUB)
      await tick()
      t.deliver(P2P_MSG.hello, encodeHello(hello))
      await tick()
    },
  }
}

const ETH_LEN = 17
/** A protocol whose run is driven from the test. */
function controlledProtocol(name = 'eth', version = 68, length = ETH_LEN) {
  const ran = deferred<{ peer: PeerHandle; rw: MsgReadWriter }>()
  const result = deferred<void>()
  const proto: Protocol = {
    name,
    version,
    length,
    run: (peer, rw) => {
      ran.res({ peer, rw })
      return result.promise
    },
  }
  return { proto, ran: ran.promise, end: result }
}

describe('peer machine lifecycle', () => {
  it('inbound: handshake, checkpoints, Hello exchange, snappy, protocols, local disconnect', async () => {
    const eth = controlledProtocol()
    const h = startPeer({ protocols: [eth.proto] })
    assert.equal(h.actor.getSnapshot().value, 'pendingHandshake')
    h.t.hs.res(PUB)
    await tick()
    const post = h.checkpoints[0] as PostHandshakeCheckpoint
    assert.equal(post.type, 'checkpoint.postHandshake')
    assert.deepEqual(post.id, keccak256(PUB))
    assert.deepEqual([post.inbound, post.dialed], [true, false])
    assert.equal(h.actor.getSnapshot().value, 'protoHandshake')
    // our Hello went out first thing
    assert.deepEqual(h.t.codes(), [P2P_MSG.hello])
    assert.deepEqual(decodeHello(h.t.sent[0]!.payload), LOCAL_HELLO)
    // their Hello and, before we reach running, an eth message right behind it: it must not be lost
    h.t.deliver(
      P2P_MSG.hello,
      encodeHello(
        helloFrom(PUB, 5, [
          { name: 'eth', version: 68 },
          { name: 'les', version: 4 },
        ]),
      ),
    )
    h.t.deliver(0x10, Uint8Array.of(0xc1, 0x01))
    await tick()
    const add = h.checkpoints[1] as AddPeerCheckpoint
    assert.equal(add.type, 'checkpoint.addPeer')
    assert.equal(add.name, 'remote/v1')
    assert.deepEqual(add.caps, [
      { name: 'eth', version: 68 },
      { name: 'les', version: 4 },
    ])
    assert.equal(add.matched, 1)
    assert.deepEqual(h.t.snappy, [true])
    assert.deepEqual(h.actor.getSnapshot().value, { running: 'waiting' })
    const { peer, rw } = await eth.ran
    assert.deepEqual(peer.id, keccak256(PUB))
    assert.deepEqual(peer.caps, ['eth/68', 'les/4'])
    assert.equal(peer.name, 'remote/v1')
    const all = firstValueFrom(rw.messages$.pipe(toArray()))
    await rw.send(1, Uint8Array.of(0xc0))
    assert.equal(h.t.sent.at(-1)!.code, 0x11, 'offset added')
    const first = await firstValueFrom(peer.snapshot$)
    assert.equal((first as { status: string }).status, 'active')
    peer.disconnect(DiscReason.Requested)
    await tick()
    assert.deepEqual(h.output(), { reason: DiscReason.Requested, requestedByRemote: false })
    assert.deepEqual(h.t.closes, [DiscReason.Requested])
    assert.deepEqual(
      (await all).map((m) => m.code),
      [0],
      'the early message reached the protocol, rebased; then EOF',
    )
    await assert.rejects(rw.send(0, new Uint8Array()), { code: 'SHUTTING_DOWN' })
    assert.deepEqual(h.errors, [])
  })

  it('a peer advertising Hello version 4 gets no snappy', async () => {
    const h = startPeer()
    await h.toRunning(helloFrom(PUB, 4))
    assert.deepEqual(h.t.snappy, [false])
    h.actor.send({ type: 'peer.disconnect', reason: DiscReason.Quitting })
    assert.deepEqual(h.output(), { reason: DiscReason.Quitting, requestedByRemote: false })
  })

  it('dialled: a Hello id other than the dialled node → UnexpectedIdentity, told after snappy is set', async () => {
    const other = new Uint8Array(64).fill(9)
    const h = startPeer({ input: { inbound: false, dialDest: { id: keccak256(PUB), pubkey: PUB } } })
    await h.toRunning(helloFrom(other))
    assert.equal((h.checkpoints[0] as PostHandshakeCheckpoint).dialed, true)
    assert.equal(h.checkpoints.length, 1, 'no addPeer checkpoint')
    assert.deepEqual(h.output(), { reason: DiscReason.UnexpectedIdentity, requestedByRemote: false })
    assert.deepEqual(h.t.snappy, [true])
    assert.deepEqual(h.t.closes, [DiscReason.UnexpectedIdentity])
  })

  it('checkpoint rejections end the peer and tell the remote', async () => {
    const reject = (stage: string, reason: DiscReason) => (e: { type: string }) =>
      e.type === stage
        ? ({ type: 'checkpoint.rejected', reason } as const)
        : ({ type: 'checkpoint.accepted' } as const)
    const a = startPeer({ verdict: reject('checkpoint.postHandshake', DiscReason.TooManyPeers) })
    a.t.hs.res(PUB)
    await tick()
    assert.deepEqual(a.output(), { reason: DiscReason.TooManyPeers, requestedByRemote: false })
    assert.deepEqual(a.t.closes, [DiscReason.TooManyPeers])
    assert.deepEqual(a.t.codes(), [], 'no Hello sent')
    const b = startPeer({ verdict: reject('checkpoint.addPeer', DiscReason.UselessPeer) })
    await b.toRunning()
    assert.deepEqual(b.output(), { reason: DiscReason.UselessPeer, requestedByRemote: false })
    assert.deepEqual(b.t.closes, [DiscReason.UselessPeer])
  })
})

describe('Hello failures (geth readProtocolHandshake)', () => {
  const helloCase = async (code: number, payload: Uint8Array) => {
    const h = startPeer()
    h.t.hs.res(PUB)
    await tick()
    h.t.deliver(code, payload)
    await tick()
    assert.equal(h.actor.getSnapshot().status, 'done')
    assert.deepEqual(h.t.closes, [undefined], 'no Disconnect written for Hello failures')
    assert.deepEqual(h.t.snappy, [], 'snappy untouched when no valid Hello was read')
    return h.output()!
  }

  it('Disconnect instead of Hello → requestedByRemote with its reason, not answered', async () => {
    const out = await helloCase(P2P_MSG.disconnect, encodeDisconnect(DiscReason.TooManyPeers))
    assert.equal(out.reason, DiscReason.TooManyPeers)
    assert.equal(out.requestedByRemote, true)
  })

  it('oversized Hello (2049 bytes) → ProtocolError before decoding', async () => {
    const out = await helloCase(P2P_MSG.hello, new Uint8Array(2049))
    assert.equal(out.reason, DiscReason.ProtocolError)
    assert.equal((out.error as { code: string }).code, 'MESSAGE_TOO_BIG')
  })

  it('Hello with a 65-byte, 2-byte or zero id → InvalidIdentity', async () => {
    for (const id of [new Uint8Array(65).fill(1), Uint8Array.of(1, 2), new Uint8Array(64)]) {
      const out = await helloCase(P2P_MSG.hello, encodeHello(helloFrom(id)))
      assert.equal(out.reason, DiscReason.InvalidIdentity)
      assert.equal(out.requestedByRemote, false)
    }
  })

  it('another code first → ProtocolError; garbage Hello → ProtocolError', async () => {
    assert.equal((await helloCase(0x10, Uint8Array.of(0xc0))).reason, DiscReason.ProtocolError)
    assert.equal((await helloCase(P2P_MSG.hello, Uint8Array.of(0xff, 0x00))).reason, DiscReason.ProtocolError)
  })

  it('connection closed before Hello → NetworkError', async () => {
    const h = startPeer()
    h.t.hs.res(PUB)
    await tick()
    h.t.inbox.complete()
    await tick()
    assert.equal(h.output()!.reason, DiscReason.NetworkError)
  })
})

describe('running: base protocol', () => {
  it('a received Disconnect is echoed and ends the peer requestedByRemote', async () => {
    for (const [payload, reason] of [
      [encodeDisconnect(DiscReason.TooManyPeers), DiscReason.TooManyPeers],
      [Uint8Array.of(0x08), DiscReason.Quitting], // bare integer, as ethjs sends it
    ] as const) {
      const h = startPeer()
      await h.toRunning()
      h.t.deliver(P2P_MSG.disconnect, payload)
      await tick()
      assert.deepEqual(h.output(), { reason, requestedByRemote: true })
      assert.deepEqual(h.t.closes, [reason], 'reason echoed')
    }
  })

  it('a code above every matched protocol drops with ProtocolError; the last valid code does not', async () => {
    const eth = controlledProtocol()
    const h = startPeer({ protocols: [eth.proto] })
    await h.toRunning()
    h.t.deliver(0x10 + ETH_LEN - 1, Uint8Array.of(0xc0))
    h.t.deliver(0x05, Uint8Array.of(0xc0)) // unused base code: ignored, as geth
    h.t.deliver(P2P_MSG.pong, Uint8Array.of(0xc0))
    await tick()
    assert.equal(h.actor.getSnapshot().status, 'active')
    h.t.deliver(0x10 + ETH_LEN, Uint8Array.of(0xc0))
    await tick()
    assert.equal(h.output()!.reason, DiscReason.ProtocolError)
    assert.equal((h.output()!.error as ProtocolError).code, 'INVALID_MSG_CODE')
    assert.deepEqual(h.t.closes, [DiscReason.ProtocolError])
  })

  it('a second Hello drops with ProtocolError', async () => {
    const h = startPeer()
    await h.toRunning()
    h.t.deliver(P2P_MSG.hello, encodeHello(helloFrom(PUB)))
    await tick()
    assert.equal(h.output()!.reason, DiscReason.ProtocolError)
  })

  it('Ping → Pong', async () => {
    const h = startPeer()
    await h.toRunning()
    h.t.sent = []
    h.t.deliver(P2P_MSG.ping, Uint8Array.of(0xc0))
    await tick()
    assert.deepEqual(h.t.sent, [{ code: P2P_MSG.pong, payload: Uint8Array.of(0xc0) }])
  })

  it('10 000 Pings in a burst: Pongs from a bounded queue, one write in flight', async () => {
    const h = startPeer()
    await h.toRunning()
    h.t.sent = []
    const gate: (() => void)[] = []
    h.t.writeDelay = () => new Promise<void>((r) => gate.push(r))
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 10_000; i++) h.t.deliver(P2P_MSG.ping, Uint8Array.of(0xc0))
    assert.equal(h.t.sent.length, 1, 'one Pong written, the rest owed')
    while (gate.length) {
      gate.shift()!()
      await tick()
    }
    assert.equal(h.t.sent.length, 1 + MAX_PENDING_PONGS, 'owed Pongs are capped (coalesced)')
    assert.equal(h.t.maxInFlight, 1)
    assert.ok(process.memoryUsage().heapUsed - before < 8 * 1024 * 1024, 'no per-Ping growth')
    assert.equal(h.actor.getSnapshot().status, 'active', 'a ping flood does not drop the peer')
    // paced Pings are each answered
    h.t.writeDelay = () => Promise.resolve()
    h.t.sent = []
    for (let i = 0; i < 1000; i++) {
      h.t.deliver(P2P_MSG.ping, Uint8Array.of(0xc0))
      await Promise.resolve()
      await Promise.resolve()
    }
    await tick()
    assert.equal(h.t.sent.length, 1000)
  })

  it('sends a Ping every 15 s (SimulatedClock)', async () => {
    const h = startPeer()
    await h.toRunning()
    h.t.sent = []
    h.clock.increment(peerDefaults.pingInterval - 1)
    assert.equal(h.t.sent.length, 0)
    h.clock.increment(1)
    h.clock.increment(peerDefaults.pingInterval)
    h.clock.increment(peerDefaults.pingInterval)
    assert.deepEqual(h.t.codes(), [P2P_MSG.ping, P2P_MSG.ping, P2P_MSG.ping])
    assert.deepEqual(h.t.sent[0]!.payload, Uint8Array.of(0xc0))
  })

  it('a read failure ends the peer with the classified reason and no Disconnect', async () => {
    const { DecodeError } = await import('../../../codecs/errors.ts')
    const h = startPeer()
    await h.toRunning()
    h.t.inbox.error(new DecodeError('BAD_FRAME_MAC'))
    await tick()
    assert.equal(h.output()!.reason, DiscReason.ProtocolError)
    assert.deepEqual(h.t.closes, [undefined])
    const h2 = startPeer()
    await h2.toRunning()
    h2.t.inbox.complete()
    await tick()
    assert.deepEqual(h2.output(), { reason: DiscReason.NetworkError, requestedByRemote: false })
  })

  it('a transport that throws inside the connection actor ends the peer; the machine does not error', async () => {
    const h = startPeer()
    // the Hello reader gets the stream; the base protocol's reader, on entering running, gets a throw
    const stream = h.t.messages$
    let reads = 0
    Object.defineProperty(h.t, 'messages$', {
      get: () => {
        if (reads++ === 0) return stream
        throw new Error('broken transport')
      },
    })
    await h.toRunning()
    assert.equal(reads, 2)
    assert.equal(h.actor.getSnapshot().status, 'done')
    assert.deepEqual(h.errors, [])
    assert.equal(h.output()!.reason, DiscReason.NetworkError)
    assert.equal((h.output()!.error as Error).message, 'broken transport')
    assert.deepEqual(h.t.closes, [undefined])
  })
})

describe('protocol run → reason (geth discReasonForError)', () => {
  const cases: [string, (end: ReturnType<typeof deferred<void>>) => void, number][] = [
    ['returned → Quitting', (end) => end.res(), DiscReason.Quitting],
    [
      'invalid message → ProtocolError',
      (end) => end.rej(new ProtocolError('INVALID_MESSAGE')),
      DiscReason.ProtocolError,
    ],
    ['other error → SubprotocolError', (end) => end.rej(new Error('boom')), DiscReason.SubprotocolError],
    [
      'carried reason → that reason',
      (end) => end.rej(new ProtocolError('DISCONNECT', 'x', { reason: DiscReason.UselessPeer })),
      DiscReason.UselessPeer,
    ],
  ]
  for (const [name, finish, reason] of cases) {
    it(name, async () => {
      const eth = controlledProtocol()
      const snap = controlledProtocol('snap', 1, 8)
      const h = startPeer({ protocols: [eth.proto, snap.proto] })
      await h.toRunning(
        helloFrom(PUB, 5, [
          { name: 'eth', version: 68 },
          { name: 'snap', version: 1 },
        ]),
      )
      const s = await snap.ran
      const snapDone = firstValueFrom(s.rw.messages$.pipe(toArray()))
      finish(eth.end)
      await tick()
      assert.equal(h.output()!.reason, reason)
      assert.deepEqual(h.t.closes, [reason], 'reason told to the remote')
      assert.deepEqual(await snapDone, [], 'the other protocol sees EOF')
    })
  }

  it('a protocol that throws synchronously is a failure too', async () => {
    const h = startPeer({
      protocols: [
        {
          name: 'eth',
          version: 68,
          length: 17,
          run: () => {
            throw new ProtocolError('INVALID_MESSAGE')
          },
        },
      ],
    })
    await h.toRunning()
    await tick()
    assert.equal(h.output()!.reason, DiscReason.ProtocolError)
  })
})

describe('timeouts (SimulatedClock)', () => {
  it('ECIES handshake: 5 s', () => {
    const h = startPeer()
    h.clock.increment(peerDefaults.handshakeTimeout - 1)
    assert.equal(h.actor.getSnapshot().value, 'pendingHandshake')
    h.clock.increment(1)
    assert.deepEqual(h.output(), { reason: DiscReason.ReadTimeout, requestedByRemote: false })
    assert.deepEqual(h.t.closes, [undefined])
  })

  it('Hello: 30 s (geth frameReadTimeout)', async () => {
    const h = startPeer()
    h.t.hs.res(PUB)
    await tick()
    h.clock.increment(peerDefaults.helloTimeout - 1)
    assert.equal(h.actor.getSnapshot().value, 'protoHandshake')
    h.clock.increment(1)
    assert.deepEqual(h.output(), { reason: DiscReason.ReadTimeout, requestedByRemote: false })
  })

  it('no timer survives the end of the peer', async () => {
    const h = startPeer()
    await h.toRunning()
    h.actor.send({ type: 'peer.disconnect', reason: DiscReason.Requested })
    assert.equal((h.clock as unknown as { timeouts: Map<unknown, unknown> }).timeouts.size, 0)
  })
})

describe('checkpoint flow through a real parent (sendParent path)', () => {
  it('the parent answers both checkpoints and receives the output as xstate.done.actor', async () => {
    const t = new FakeTransport()
    const seen: string[] = []
    const parent = setup({
      types: { context: {} as { output?: PeerOutput } },
      actors: { peer: peerMachine },
    }).createMachine({
      context: {},
      invoke: {
        id: 'peer',
        src: 'peer',
        systemId: `peer:${bytesToHex(keccak256(PUB))}`,
        input: { transport: t, inbound: true, localHello: LOCAL_HELLO, protocols: [] },
        onDone: { actions: ({ event }) => seen.push(`done:${(event.output as PeerOutput).reason}`) },
      },
      on: {
        '*': {
          actions: [
            ({ event }) => seen.push(event.type),
            sendTo(({ event }) => (event as unknown as { peer: AnyActorRef }).peer, {
              type: 'checkpoint.accepted',
            }),
          ],
        },
      },
    })
    const actor = createActor(parent)
    const errors: unknown[] = []
    actor.subscribe({ error: (e) => errors.push(e) })
    actor.start()
    t.hs.res(PUB)
    await tick()
    t.deliver(P2P_MSG.hello, encodeHello(helloFrom(PUB)))
    await tick()
    const peer = actor.system.get(`peer:${bytesToHex(keccak256(PUB))}`) as AnyActorRef
    assert.ok(peer, 'peer found by systemId')
    peer.send({ type: 'peer.disconnect', reason: DiscReason.Quitting })
    await tick()
    assert.deepEqual(seen, ['checkpoint.postHandshake', 'checkpoint.addPeer', `done:${DiscReason.Quitting}`])
    assert.deepEqual(errors, [])
    actor.stop()
  })
})
