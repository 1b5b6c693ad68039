// Model-based tests of the peer machine (machines/peer.machine.ts) with xstate/graph: every shortest path and
// every simple path that reaches `dropped` is executed against a fake `connection` actor on a SimulatedClock, and each path's
// output (reason, requestedByRemote) and wire Disconnect are checked against an expected-reason table.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Subject } from 'rxjs'
import { type AnyActorRef, createActor, fromCallback, SimulatedClock } from 'xstate'
import { TestModel, type TestPath } from 'xstate/graph'
import { DecodeError } from '../../codecs/errors.ts'
import { DiscReason, type Hello } from '../../codecs/p2p.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { type PeerEvent, type PeerInput, peerDefaults, peerMachine } from '../../machines/peer.machine.ts'
import type { ConnectionCommand, ConnectionInput, PeerTransport } from '../../machines/peer-actors.ts'
import { type Msg, type Protocol, ProtocolError } from '../../machines/protocol.ts'

const PUB = new Uint8Array(64).fill(7)
const OTHER = new Uint8Array(64).fill(9)
const ID = keccak256(PUB)

const hello = (version: number, id: Uint8Array): Hello => ({
  version,
  name: `remote/v${version}`,
  caps: [
    { name: 'eth', version: 68 },
    { name: 'snap', version: 1 },
    { name: 'les', version: 4 },
  ],
  listenPort: 0,
  id,
})

const noopRun = () => new Promise<void>(() => {})
const PROTOCOLS: Protocol[] = [
  { name: 'eth', version: 68, length: 17, run: noopRun },
  { name: 'snap', version: 1, length: 8, run: noopRun },
]

// ---- the fake world one path runs in -------------------------------------------------------------------

interface Driver {
  /** the fake `connection` actor's way back to the machine, and the commands it received */
  back?: (e: PeerEvent) => void
  commands: ConnectionCommand[]
  connectionStopped: number
  runners: Map<string, (e: PeerEvent) => void>
  runnersStopped: number
  closes: (number | undefined)[]
  sent: number[]
  checkpoints: string[]
}
let drv: Driver

const newDriver = (): Driver => ({
  commands: [],
  connectionStopped: 0,
  runners: new Map(),
  runnersStopped: 0,
  closes: [],
  sent: [],
  checkpoints: [],
})

const transport: PeerTransport = {
  encHandshake: () => Promise.reject(new Error('the fake connection actor replaces this')),
  messages$: new Subject<Msg>(),
  send: (code) => {
    drv.sent.push(code)
    return Promise.resolve()
  },
  setSnappy: () => assert.fail('snappy is switched by the connection actor, not the machine'),
  close: (reason) => drv.closes.push(reason),
}

const fakeMachine = peerMachine.provide({
  actors: {
    connection: fromCallback<ConnectionCommand, ConnectionInput>(({ sendBack, receive }) => {
      drv.back = sendBack
      receive((c) => drv.commands.push(c))
      return () => drv.connectionStopped++
    }),
    protocolRunner: fromCallback(({ sendBack, input }) => {
      drv.runners.set((input as { protocol: Protocol }).protocol.name, sendBack)
      return () => drv.runnersStopped++
    }),
  },
})

// ---- events of the model, each with what it must lead to when it ends the peer ---------------------------

interface Expect {
  reason: number
  requestedByRemote: boolean
  /** the reason written in a Disconnect, or undefined when the socket is closed without one */
  wire: number | undefined
}
type ModelEvent = PeerEvent | { type: string; [k: string]: unknown }
const E: { event: ModelEvent; expect?: Expect }[] = [
  { event: { type: 'handshake.done', remotePubkey: PUB } },
  {
    event: { type: 'handshake.failed', error: new DecodeError('ECIES_FAILED') },
    expect: { reason: DiscReason.ProtocolError, requestedByRemote: false, wire: undefined },
  },
  {
    event: {
      type: 'handshake.failed',
      error: Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
    },
    expect: { reason: DiscReason.NetworkError, requestedByRemote: false, wire: undefined },
  },
  {
    event: { type: 'xstate.after.handshakeTimeout.peer.pendingHandshake' },
    expect: { reason: DiscReason.ReadTimeout, requestedByRemote: false, wire: undefined },
  },
  { event: { type: 'checkpoint.accepted' } },
  {
    event: { type: 'checkpoint.rejected', reason: DiscReason.TooManyPeers },
    expect: { reason: DiscReason.TooManyPeers, requestedByRemote: false, wire: DiscReason.TooManyPeers },
  },
  { event: { type: 'hello.received', hello: hello(5, PUB) } },
  { event: { type: 'hello.received', hello: hello(4, PUB) } },
  {
    event: { type: 'hello.received', hello: hello(5, new Uint8Array(64)) },
    expect: { reason: DiscReason.InvalidIdentity, requestedByRemote: false, wire: undefined },
  },
  {
    event: { type: 'hello.received', hello: hello(5, OTHER) },
    expect: {
      reason: DiscReason.UnexpectedIdentity,
      requestedByRemote: false,
      wire: DiscReason.UnexpectedIdentity,
    },
  },
  {
    event: {
      type: 'hello.failed',
      error: new ProtocolError('REMOTE_DISCONNECT', 'x', { reason: DiscReason.UselessPeer }),
    },
    expect: { reason: DiscReason.UselessPeer, requestedByRemote: true, wire: undefined },
  },
  {
    event: { type: 'hello.failed', error: new DecodeError('MESSAGE_TOO_BIG') },
    expect: { reason: DiscReason.ProtocolError, requestedByRemote: false, wire: undefined },
  },
  {
    event: { type: 'xstate.after.helloTimeout.peer.protoHandshake' },
    expect: { reason: DiscReason.ReadTimeout, requestedByRemote: false, wire: undefined },
  },
  { event: { type: 'xstate.after.pingInterval.peer.running.waiting' } },
  {
    event: { type: 'peer.disconnect', reason: DiscReason.Requested },
    expect: { reason: DiscReason.Requested, requestedByRemote: false, wire: DiscReason.Requested },
  },
  {
    event: { type: 'tcp.closed' },
    expect: { reason: DiscReason.NetworkError, requestedByRemote: false, wire: undefined },
  },
  {
    event: { type: 'tcp.closed', error: new DecodeError('BAD_FRAME_MAC') },
    expect: { reason: DiscReason.ProtocolError, requestedByRemote: false, wire: undefined },
  },
  {
    event: { type: 'disconnect.received', reason: DiscReason.TooManyPeers },
    expect: { reason: DiscReason.TooManyPeers, requestedByRemote: true, wire: DiscReason.TooManyPeers },
  },
  {
    event: { type: 'disconnect.received', reason: DiscReason.NetworkError },
    expect: { reason: DiscReason.NetworkError, requestedByRemote: true, wire: undefined },
  },
  {
    event: { type: 'message.invalid', error: new ProtocolError('INVALID_MSG_CODE') },
    expect: { reason: DiscReason.ProtocolError, requestedByRemote: false, wire: DiscReason.ProtocolError },
  },
  {
    event: { type: 'protocol.returned', name: 'eth' },
    expect: { reason: DiscReason.Quitting, requestedByRemote: false, wire: DiscReason.Quitting },
  },
  {
    event: { type: 'protocol.failed', name: 'snap', error: new ProtocolError('INVALID_MESSAGE') },
    expect: { reason: DiscReason.ProtocolError, requestedByRemote: false, wire: DiscReason.ProtocolError },
  },
  {
    event: { type: 'protocol.failed', name: 'eth', error: new Error('handler bug') },
    expect: {
      reason: DiscReason.SubprotocolError,
      requestedByRemote: false,
      wire: DiscReason.SubprotocolError,
    },
  },
  {
    event: {
      type: 'protocol.failed',
      name: 'eth',
      error: new ProtocolError('DISCONNECT', 'status', { reason: DiscReason.UselessPeer }),
    },
    expect: { reason: DiscReason.UselessPeer, requestedByRemote: false, wire: DiscReason.UselessPeer },
  },
]
const ALL = E.map((e) => e.event)
const expectFor = (ev: ModelEvent): Expect => {
  const hit = E.find((e) => e.event === ev)
  assert.ok(hit?.expect, `no expected reason for final event ${ev.type}`)
  return hit.expect
}

type Snap = ReturnType<typeof fakeMachine.getInitialSnapshot>

const serializeState = (s: Snap) =>
  `${JSON.stringify(s.value)}|${s.context.hello?.version ?? '-'}|${s.context.reason ?? '-'}|${s.context.requestedByRemote}|${s.context.notify}`

function modelOptions(input: PeerInput) {
  return {
    input,
    serializeState: serializeState as (s: unknown) => string,
    events: (s: Snap) => ALL.filter((e) => s.can(e as PeerEvent)) as PeerEvent[],
    stopWhen: (s: Snap) => s.status === 'done',
    stateMatcher: (s: Snap, key: string) => key === '*' || s.matches(key as never),
  } as never
}
const model = (input: PeerInput) => new TestModel(fakeMachine, modelOptions(input))

const tick = () => new Promise<void>((r) => setImmediate(r))

async function runPath(path: TestPath<Snap, PeerEvent>, input: PeerInput): Promise<void> {
  drv = newDriver()
  const clock = new SimulatedClock()
  const supervisor = createActor(
    fromCallback(({ receive }) => receive((e: { type: string }) => drv.checkpoints.push(e.type))),
  )
  supervisor.subscribe({ error: (e) => assert.fail(e as Error) })
  supervisor.start()
  const actor = createActor(fakeMachine, {
    input: { ...input, supervisor: supervisor as AnyActorRef },
    clock,
  })
  const errors: unknown[] = []
  actor.subscribe({ error: (e) => errors.push(e) })
  actor.start()
  let pings = 0
  const send = async (step: { event: PeerEvent }) => {
    actor.send(step.event)
    await tick()
  }
  /** an event the connection actor sends: the Hello only once asked for, base-protocol events once running */
  const viaConnection = async (step: { event: PeerEvent }) => {
    assert.ok(drv.back, 'connection actor running')
    const asked = drv.commands.map((c) => c.type)
    if (step.event.type.startsWith('hello.')) assert.deepEqual(asked, ['hello.start'])
    if (step.event.type === 'disconnect.received' || step.event.type === 'message.invalid')
      assert.deepEqual(asked, ['hello.start', 'messages.start'])
    drv.back(step.event)
    await tick()
  }
  const viaRunner = async (step: { event: PeerEvent }) => {
    const back = drv.runners.get((step.event as { name: string }).name)
    assert.ok(back, 'protocol runner running')
    back(step.event)
    await tick()
  }
  const ev =
    <T>(f: (e: T) => void) =>
    async (step: { event: unknown }) => {
      f(step.event as T)
      await tick()
    }
  await path.test({
    events: {
      'handshake.done': viaConnection,
      'handshake.failed': viaConnection,
      'hello.received': viaConnection,
      'hello.failed': viaConnection,
      'xstate.after.handshakeTimeout.peer.pendingHandshake': ev(() =>
        clock.increment(peerDefaults.handshakeTimeout),
      ),
      'xstate.after.helloTimeout.peer.protoHandshake': ev(() => clock.increment(peerDefaults.helloTimeout)),
      'xstate.after.pingInterval.peer.running.waiting': ev(() => {
        pings++
        clock.increment(peerDefaults.pingInterval)
      }),
      'checkpoint.accepted': send,
      'checkpoint.rejected': send,
      'peer.disconnect': send,
      'tcp.closed': send,
      'disconnect.received': viaConnection,
      'message.invalid': viaConnection,
      'protocol.returned': viaRunner,
      'protocol.failed': viaRunner,
    } as never,
    states: {
      '*': (expected: Snap) => assert.deepEqual(actor.getSnapshot().value, expected.value),
    } as never,
  })
  const snap = actor.getSnapshot()
  assert.equal(snap.status, 'done')
  const last = path.steps[path.steps.length - 1]!.event
  const want = expectFor(last)
  assert.equal(snap.output!.reason, want.reason, 'reason')
  assert.equal(snap.output!.requestedByRemote, want.requestedByRemote, 'requestedByRemote')
  assert.equal(snap.output!.reason, path.state.context.reason, 'model and actor agree')
  assert.deepEqual(drv.closes, [want.wire], 'one close, Disconnect as expected')
  assert.deepEqual(errors, [])
  // side effects along the way
  const steps: string[] = path.steps.map((s) => s.event.type)
  const ok = (t: string) => steps.includes(t)
  const postHs = ok('handshake.done')
  const hs = path.steps.find((s) => (s.event.type as string) === 'hello.received')?.event as unknown as
    | { hello: Hello }
    | undefined
  const expectedCheckpoints = postHs ? ['checkpoint.postHandshake'] : []
  const helloOk = hs?.hello.id.some((b) => b !== 0) === true
  if (hs && helloOk && keccakMatches(hs.hello.id)) expectedCheckpoints.push('checkpoint.addPeer')
  assert.deepEqual(drv.checkpoints, expectedCheckpoints, 'checkpoints sent')
  assert.equal(drv.sent.filter((c) => c === 0x02).length, pings, 'one Ping per interval')
  const ran = ok('checkpoint.accepted') && steps.filter((t) => t === 'checkpoint.accepted').length === 2
  assert.equal(drv.runners.size, ran ? 2 : 0, 'eth and snap matched, les not')
  assert.equal(drv.runnersStopped, drv.runners.size, 'protocol runners stopped')
  const accepted = steps.filter((t) => t === 'checkpoint.accepted').length
  assert.deepEqual(
    drv.commands,
    [
      ...(accepted >= 1 ? [{ type: 'hello.start' }] : []),
      // 16 base codes + eth/68's 17 + snap/1's 8
      ...(ran ? [{ type: 'messages.start', totalLength: 41 }] : []),
    ],
    'the Hello asked for once past the first checkpoint, the base protocol once running',
  )
  assert.equal(drv.connectionStopped, 1, 'connection actor stopped with the peer')
  assert.equal((clock as unknown as { timeouts: Map<unknown, unknown> }).timeouts.size, 0, 'no timer left')
  supervisor.stop()
}

const keccakMatches = (id: Uint8Array) => Buffer.from(keccak256(id)).equals(Buffer.from(ID))

const INPUTS: [string, PeerInput][] = [
  [
    'dialled',
    {
      transport,
      inbound: false,
      dialDest: { id: ID, pubkey: PUB },
      localHello: { version: 5, name: 'us', caps: [], listenPort: 0, id: OTHER },
      protocols: PROTOCOLS,
    },
  ],
  [
    'inbound',
    {
      transport,
      inbound: true,
      localHello: { version: 5, name: 'us', caps: [], listenPort: 0, id: OTHER },
      protocols: PROTOCOLS,
    },
  ],
]

for (const [name, input] of INPUTS) {
  describe(`peer machine model (${name})`, () => {
    const m = model(input)
    const toDropped = { toState: (s: Snap) => s.status === 'done' } as never
    const shortest = m.getShortestPaths(toDropped)
    const simple = m.getSimplePaths(toDropped)

    it('reaches dropped through every ending event in the table', () => {
      const reasons = new Set(shortest.map((p) => serializeState(p.state)))
      // every event with an expectation ends some path
      const endings = new Set(simple.map((p) => p.steps[p.steps.length - 1]!.event))
      for (const e of E)
        if (e.expect) assert.ok(endings.has(e.event as PeerEvent), `no path ends with ${e.event.type}`)
      assert.ok(reasons.size >= 15, `${reasons.size} distinct dropped states`)
    })

    it(`executes every shortest path to dropped (${shortest.length})`, async () => {
      for (const p of shortest) await runPath(p, input)
    })

    it(`executes every simple path to dropped (${simple.length})`, async () => {
      for (const p of simple) await runPath(p, input)
    })

    // The ping loop is a self-transition, so no simple path holds it: replay every simple path that ends in
    // `running` with two ping intervals before its last event (two Pings, then the same ending).
    const viaRunning = simple.filter(
      (p) => p.steps.length >= 2 && typeof p.steps[p.steps.length - 2]!.state.value === 'object',
    )
    it(`pings every ${peerDefaults.pingInterval} ms on the ${viaRunning.length} paths through running`, async () => {
      assert.ok(viaRunning.length >= 10)
      const ping = ALL.find((e) => e.type.startsWith('xstate.after.pingInterval')) as PeerEvent
      for (const p of viaRunning) {
        const events = p.steps.slice(1).map((s) => s.event) // steps[0] is xstate.init
        events.splice(events.length - 1, 0, ping, ping)
        const [withPings] = m.getPathsFromEvents(events, {
          ...(modelOptions(input) as object),
          ...(toDropped as object),
          // getPathsFromEvents does not apply `input` itself: start from an unstarted actor's first snapshot
          fromState: createActor(fakeMachine, { input }).getSnapshot(),
        })
        assert.ok(withPings, 'path with pings exists')
        assert.equal(withPings.steps.filter((s) => s.event === ping).length, 2)
        await runPath(withPings, input)
      }
    })
  })
}

// Beyond the graph: random pokes in any order, including ones that make no sense in the current state (late
// promise results, stale verdicts, events from stopped children). The peer must never error, must close the
// connection exactly once, and must leave no timer behind.
describe('peer machine under random event sequences', () => {
  const accepted = { type: 'checkpoint.accepted' } as PeerEvent
  const poke = fc.oneof(
    { arbitrary: fc.constant({ k: 'encOk' } as const), weight: 4 },
    { arbitrary: fc.constant({ k: 'event', ev: accepted } as const), weight: 8 },
    { arbitrary: fc.constant({ k: 'hello', h: hello(5, PUB) } as const), weight: 6 },
    fc.constant({ k: 'encFail' } as const),
    fc
      .constantFrom(...[hello(5, PUB), hello(4, PUB), hello(5, OTHER), hello(5, new Uint8Array(64))])
      .map((h) => ({ k: 'hello', h }) as const),
    fc.constant({ k: 'helloFail' } as const),
    fc.integer({ min: 1, max: 16_000 }).map((ms) => ({ k: 'time', ms }) as const),
    fc
      .constantFrom(...E.map((e) => e.event).filter((e) => !e.type.startsWith('xstate.')))
      .map((ev) => ({ k: 'event', ev }) as const),
  )
  it('never errors, closes once, leaves no timer (300 runs)', async () => {
    let reachedRunning = 0
    await fc.assert(
      fc.asyncProperty(fc.array(poke, { maxLength: 25 }), async (pokes) => {
        drv = newDriver()
        const clock = new SimulatedClock()
        const [, input] = INPUTS[0]!
        const actor = createActor(fakeMachine, { input, clock })
        const errors: unknown[] = []
        actor.subscribe({ error: (e) => errors.push(e) })
        actor.start()
        for (const p of pokes) {
          if (p.k === 'encOk') drv.back?.({ type: 'handshake.done', remotePubkey: PUB })
          else if (p.k === 'encFail') drv.back?.({ type: 'handshake.failed', error: new Error('x') })
          else if (p.k === 'hello') drv.back?.({ type: 'hello.received', hello: p.h })
          else if (p.k === 'helloFail') drv.back?.({ type: 'hello.failed', error: new Error('x') })
          else if (p.k === 'time') clock.increment(p.ms)
          else {
            const ev = p.ev as PeerEvent
            if (ev.type === 'disconnect.received' || ev.type === 'message.invalid') drv.back?.(ev)
            else if (ev.type === 'protocol.returned' || ev.type === 'protocol.failed')
              drv.runners.get(ev.name)?.(ev)
            else actor.send(ev)
          }
          await tick()
          if (actor.getSnapshot().matches('running')) reachedRunning++
        }
        actor.send({ type: 'peer.disconnect', reason: DiscReason.Requested })
        await tick()
        assert.deepEqual(errors, [])
        assert.equal(actor.getSnapshot().status, 'done')
        assert.equal(drv.closes.length, 1)
        assert.equal(typeof actor.getSnapshot().output!.reason, 'number')
        assert.equal((clock as unknown as { timeouts: Map<unknown, unknown> }).timeouts.size, 0)
        assert.equal(drv.runnersStopped, drv.runners.size)
        assert.equal(drv.connectionStopped, 1)
      }),
      { numRuns: 300 },
    )
    assert.ok(reachedRunning >= 10, `running reached in ${reachedRunning} steps`)
  })
})
