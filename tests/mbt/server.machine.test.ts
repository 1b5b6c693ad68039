// Model-based and scenario tests for machines/server.machine.ts. The model (maxPeers 3 → 1 dialled + 2
// inbound slots, one trusted id) states geth's checkpoint rules independently of the supervisor; every
// shortest path through it is executed against the real supervisor with fake peer machines (the real
// peer machine's event contract), fake dial effects and a SimulatedClock. Then scenarios: the peer
// limits, trusted peers, Self, AlreadyConnected, static redial, removePeer, stop draining every peer.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { assign, createActor, createMachine } from 'xstate'
import { createTestModel } from 'xstate/graph'
import { bytesToHex } from '../../codecs/bytes.ts'
import { DiscReason, encodeHello, type Hello, P2P_MSG } from '../../codecs/p2p.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { DIAL_HISTORY_EXPIRATION_MS } from '../../machines/dial-scheduler.ts'
import { InboundPeers } from '../../machines/inbound-peers.ts'
import { peerMachine } from '../../machines/peer.machine.ts'
import type { PeerTransport } from '../../machines/peer-actors.ts'
import { MsgChannel } from '../../machines/protocol.ts'
import { type PeerSpawnInput, serverMachine } from '../../machines/server.machine.ts'
import { dialConns } from '../../machines/server-steps.ts'
import { createHarness, ETH68, fakeConn, idOf, nodeOf } from './server-harness.ts'

const MAX_PEERS = 3 // geth: maxDialed = 3/3 = 1, maxInbound = 2
const MAX_DIALED = 1
const MAX_INBOUND = 2
const TRUSTED = 0x77

type Verdict =
  | 'none'
  | 'accepted'
  | 'TooManyPeers'
  | 'AlreadyConnected'
  | 'Self'
  | 'UselessPeer'
  | 'notDialed'

interface ModelContext {
  inbound: number // untrusted inbound peers
  trusted: number // the trusted peer (inbound), 0 or 1
  dialed: number
  verdict: Verdict
}

type ModelEvent = {
  type:
    | 'start'
    | 'startup.ok'
    | 'startup.fail'
    | 'stop'
    | 'inbound.new'
    | 'inbound.trusted'
    | 'inbound.self'
    | 'inbound.duplicate'
    | 'inbound.useless'
    | 'dialed.new'
    | 'inbound.drop'
    | 'trusted.drop'
    | 'dialed.drop'
    | 'peers.closed'
}

const total = (c: ModelContext) => c.inbound + c.trusted + c.dialed
/** geth postHandshakeChecks' two TooManyPeers rules for an untrusted connection. */
const tooMany = (c: ModelContext, inbound: boolean) =>
  total(c) >= MAX_PEERS || (inbound && c.inbound + c.trusted >= MAX_INBOUND)
const verdict = (v: Verdict) => assign<ModelContext, ModelEvent, undefined, ModelEvent, never>({ verdict: v })

/** The abstract model of the supervisor. */
const model = createMachine({
  types: {} as { context: ModelContext; events: ModelEvent },
  id: 'serverModel',
  context: { inbound: 0, trusted: 0, dialed: 0, verdict: 'none' },
  initial: 'idle',
  states: {
    idle: { on: { start: 'starting', stop: 'stopped' } },
    starting: { on: { 'startup.ok': 'running', 'startup.fail': 'stopped', stop: 'stopped' } },
    running: {
      on: {
        stop: [{ guard: ({ context }) => total(context) === 0, target: 'stopped' }, { target: 'stopping' }],
        'inbound.new': [
          { guard: ({ context }) => tooMany(context, true), actions: verdict('TooManyPeers') },
          { actions: assign({ inbound: ({ context }) => context.inbound + 1, verdict: 'accepted' }) },
        ],
        'inbound.trusted': [
          { guard: ({ context }) => context.trusted === 1, actions: verdict('AlreadyConnected') },
          { actions: assign({ trusted: 1, verdict: 'accepted' }) },
        ],
        'inbound.self': [
          { guard: ({ context }) => tooMany(context, true), actions: verdict('TooManyPeers') },
          { actions: verdict('Self') },
        ],
        'inbound.duplicate': [
          { guard: ({ context }) => total(context) === 0 },
          { guard: ({ context }) => tooMany(context, true), actions: verdict('TooManyPeers') },
          { actions: verdict('AlreadyConnected') },
        ],
        'inbound.useless': [
          { guard: ({ context }) => tooMany(context, true), actions: verdict('TooManyPeers') },
          { actions: verdict('UselessPeer') },
        ],
        'dialed.new': [
          // geth freeDialSlots: (maxDialed − dialed) × 2 − dialing; no slot → the candidate is not taken
          { guard: ({ context }) => context.dialed >= MAX_DIALED, actions: verdict('notDialed') },
          { guard: ({ context }) => tooMany(context, false), actions: verdict('TooManyPeers') },
          { actions: assign({ dialed: ({ context }) => context.dialed + 1, verdict: 'accepted' }) },
        ],
        'inbound.drop': {
          guard: ({ context }) => context.inbound > 0,
          actions: assign({ inbound: ({ context }) => context.inbound - 1, verdict: 'none' }),
        },
        'trusted.drop': {
          guard: ({ context }) => context.trusted > 0,
          actions: assign({ trusted: 0, verdict: 'none' }),
        },
        'dialed.drop': {
          guard: ({ context }) => context.dialed > 0,
          actions: assign({ dialed: ({ context }) => context.dialed - 1, verdict: 'none' }),
        },
      },
    },
    stopping: { on: { 'peers.closed': 'stopped' } },
    stopped: { type: 'final' },
  },
})

const REASON_NAMES = Object.fromEntries(Object.entries(DiscReason).map(([k, v]) => [v, k]))

/** Drives the real supervisor and records the outcome of each step. */
function createSut() {
  const h = createHarness(
    { maxPeers: MAX_PEERS, trustedNodes: [idOf(TRUSTED)] },
    { slowClose: true, manualStartup: true },
  )
  let next = 1
  let verdict: Verdict = 'none'
  const kinds = new Map<string, 'inbound' | 'trusted' | 'dialed'>()
  const observe = async (
    f: () => Promise<unknown>,
    id: string | null,
    kind: 'inbound' | 'trusted' | 'dialed',
  ) => {
    const before = h.emitted.length
    await f()
    const fresh = h.emitted.slice(before)
    const added = fresh.find((e) => e.type === 'peer.added')
    const rejected = fresh.find((e) => e.type === 'conn.rejected')
    if (added) {
      verdict = 'accepted'
      kinds.set(added.id as string, kind)
    } else if (rejected) verdict = REASON_NAMES[rejected.reason as number] as Verdict
    else if (kind === 'dialed' && !fresh.some((e) => e.type === 'dial.started')) verdict = 'notDialed'
    else throw new Error(`no verdict for ${id}`)
  }
  const dropKind = async (kind: 'inbound' | 'trusted' | 'dialed') => {
    const id = [...kinds].find(([, k]) => k === kind)![0]
    kinds.delete(id)
    await h.toPeer(id, { type: 'fake.remoteDisconnect', reason: DiscReason.Requested })
    verdict = 'none'
  }
  h.actor.start()
  return {
    h,
    verdict: () => verdict,
    events: {
      start: async () => {
        h.actor.send({ type: 'start' })
        await h.flush()
      },
      'startup.ok': () => h.finishStartup(),
      'startup.fail': () => h.finishStartup(new Error('listen EADDRINUSE')),
      stop: async () => {
        h.actor.send({ type: 'stop' })
        await h.flush()
      },
      'inbound.new': () => observe(() => h.inbound(fakeConn(next++)), null, 'inbound'),
      'inbound.trusted': () => observe(() => h.inbound(fakeConn(TRUSTED)), null, 'trusted'),
      'inbound.self': () => observe(() => h.inbound(fakeConn(-1)), null, 'inbound'),
      'inbound.duplicate': async () => {
        const id = h.peerIds()[0]
        if (!id) return
        await observe(() => h.inbound(fakeConn(Number.parseInt(id.slice(0, 2), 16))), id, 'inbound')
      },
      'inbound.useless': () =>
        observe(() => h.inbound(fakeConn(next++, [{ name: 'les', version: 4 }])), null, 'inbound'),
      'dialed.new': () =>
        observe(
          async () => {
            const n = next++
            h.candidate(nodeOf(n))
            await h.flush()
            if (h.connects.has(idOf(n))) await h.connect(idOf(n), fakeConn(n))
          },
          null,
          'dialed',
        ),
      'inbound.drop': () => dropKind('inbound'),
      'trusted.drop': () => dropKind('trusted'),
      'dialed.drop': () => dropKind('dialed'),
      'peers.closed': async () => {
        for (const [childId, ref] of Object.entries(h.children()))
          if (childId.startsWith('peer:')) ref!.send({ type: 'fake.closed' })
        await h.flush()
      },
    },
  }
}

type Sut = ReturnType<typeof createSut>

function stateChecks(sut: { current?: Sut }) {
  const s = () => sut.current!
  const noErrors = () => assert.deepEqual(s().h.errors, [])
  const childIds = () => Object.keys(s().h.children())
  return {
    idle: () => assert.ok(s().h.actor.getSnapshot().matches('idle')),
    starting: () => assert.ok(s().h.actor.getSnapshot().matches('starting')),
    running: (st: { context: ModelContext }) => {
      const snap = s().h.actor.getSnapshot()
      assert.ok(snap.matches('running'))
      const c = st.context
      assert.equal(s().verdict(), c.verdict, 'verdict')
      assert.equal(snap.context.peers.size, total(c), 'peer count')
      assert.equal(snap.context.inboundCount, c.inbound + c.trusted, 'inbound count')
      assert.equal(snap.context.dial.dialPeers, c.dialed, 'dialled count')
      assert.ok(snap.context.peers.size <= MAX_PEERS + c.trusted, 'maxPeers holds except for trusted peers')
      // no leaked children: one per connected peer, no finished dial tasks, plus the candidate source
      assert.deepEqual(
        childIds().filter((id) => id.startsWith('peer:')).length,
        total(c),
        `children ${childIds().join(',')}`,
      )
      assert.equal(childIds().filter((id) => id.startsWith('dial:')).length, 0)
      assert.equal(snap.context.conns.size, total(c))
      noErrors()
    },
    stopping: () => {
      const snap = s().h.actor.getSnapshot()
      assert.ok(snap.matches('stopping'))
      assert.ok(snap.context.conns.size > 0)
      noErrors()
    },
    stopped: () => {
      const snap = s().h.actor.getSnapshot()
      assert.equal(snap.status, 'done')
      assert.deepEqual(childIds(), [], 'every child stopped')
      noErrors()
    },
  }
}

describe('server machine (model-based)', () => {
  const testModel = createTestModel(model)
  const paths = testModel.getShortestPaths()

  it('the model exercises every guard outcome', () => {
    const verdicts = new Set(paths.flatMap((p) => p.steps.map((st) => st.state.context.verdict)))
    for (const v of ['accepted', 'TooManyPeers', 'AlreadyConnected', 'Self', 'UselessPeer', 'notDialed'])
      assert.ok(verdicts.has(v as Verdict), v)
    const states = new Set(paths.flatMap((p) => p.steps.map((st) => String(st.state.value))))
    assert.deepEqual([...states].sort(), ['idle', 'running', 'starting', 'stopped', 'stopping'])
  })

  describe(`every shortest path (${paths.length})`, () => {
    for (const path of paths) {
      it(path.description, async () => {
        const sut: { current?: Sut } = { current: createSut() }
        await path.test({ events: sut.current!.events as never, states: stateChecks(sut) as never })
        sut.current!.h.actor.stop()
      })
    }
  })
})

// --- scenarios ---------------------------------------------------------------------------------------

async function running(
  input: Parameters<typeof createHarness>[0],
  opts?: Parameters<typeof createHarness>[1],
) {
  const h = createHarness(input, opts)
  h.actor.start()
  h.actor.send({ type: 'start' })
  await h.flush()
  assert.ok(h.actor.getSnapshot().matches('running'))
  return h
}

const lastRejection = (h: Awaited<ReturnType<typeof running>>) =>
  h.emitted.filter((e) => e.type === 'conn.rejected').at(-1)?.reason

describe('server scenarios', () => {
  it('maxPeers and the inbound/dialled split hold (maxPeers 6: 2 dialled, 4 inbound)', async () => {
    const h = await running({ maxPeers: 6 })
    for (let n = 1; n <= 6; n++) await h.inbound(fakeConn(n))
    assert.equal(h.ctx().inboundCount, 4, 'inbound share is maxPeers − maxDialed')
    assert.equal(lastRejection(h), DiscReason.TooManyPeers)
    // dialled slots stay free for dials: 2 candidates are dialled and accepted
    for (const n of [10, 11, 12]) {
      h.candidate(nodeOf(n))
      await h.flush()
      if (h.connects.has(idOf(n))) await h.connect(idOf(n), fakeConn(n))
    }
    assert.equal(h.ctx().peers.size, 6)
    assert.equal(h.ctx().dial.dialPeers, 2)
    assert.ok(!h.emitted.some((e) => e.type === 'dial.started' && (e.task as { id: string }).id === idOf(12)))
    await h.inbound(fakeConn(20))
    assert.equal(lastRejection(h), DiscReason.TooManyPeers, 'full: total rule')
    assert.equal(h.ctx().peers.size, 6)
    assert.deepEqual(h.demands.at(-1), 0, 'no candidates wanted while the dialled share is full')
    assert.deepEqual(h.errors, [])
  })

  it('a trusted peer passes a full server, and trust can be added at run time', async () => {
    const h = await running({ maxPeers: 2, trustedNodes: [idOf(9)] })
    await h.inbound(fakeConn(1))
    await h.inbound(fakeConn(2))
    assert.equal(lastRejection(h), DiscReason.TooManyPeers)
    await h.inbound(fakeConn(9))
    assert.ok(h.peerIds().includes(idOf(9)))
    h.actor.send({ type: 'trusted.add', id: idOf(8) })
    await h.inbound(fakeConn(8))
    assert.equal(h.ctx().peers.size, 3)
    h.actor.send({ type: 'trusted.remove', id: idOf(8) })
    assert.equal(h.ctx().peers.get(idOf(8))!.trusted, false, 'the running peer loses the flag (geth)')
    await h.inbound(fakeConn(7))
    assert.equal(lastRejection(h), DiscReason.TooManyPeers)
  })

  it('our own id is rejected with Self', async () => {
    const h = await running({ maxPeers: 5 })
    await h.inbound(fakeConn(-1))
    assert.equal(lastRejection(h), DiscReason.Self)
    assert.equal(h.ctx().peers.size, 0)
    assert.deepEqual(Object.keys(h.children()), ['candidates'])
  })

  it('a second connection to the same id is rejected with AlreadyConnected', async () => {
    const h = await running({ maxPeers: 5 })
    await h.inbound(fakeConn(1))
    await h.inbound(fakeConn(1))
    assert.equal(lastRejection(h), DiscReason.AlreadyConnected)
    assert.equal(h.ctx().peers.size, 1)
    // also when the second one is a dial: the candidate is not even dialled (checkDial: already connected)
    h.candidate(nodeOf(1))
    await h.flush()
    assert.equal(h.connects.size, 0)
  })

  it('checkDial sees pending inbound connections in the supervisor maps (geth inboundPending/Completed)', async () => {
    const h = await running({ maxPeers: 5 }, { autoPeers: false })
    await h.inbound(fakeConn(1))
    const [kid] = Object.keys(h.children()).filter((id) => id.startsWith('peer:in:'))
    h.candidate(nodeOf(1))
    await h.flush()
    assert.equal(h.connects.size, 1, 'before its handshake the inbound connection has no id: the dial starts')
    await h.connect(idOf(1), new Error('refused'))
    h.children()[kid!]!.send({ type: 'fake.enc' })
    await h.flush()
    assert.equal(dialConns(h.ctx()).pendingInbound(idOf(1)), true)
    h.clock.increment(DIAL_HISTORY_EXPIRATION_MS)
    await h.flush()
    h.candidate(nodeOf(1))
    await h.flush()
    assert.equal(h.connects.size, 0, 'pending inbound: not dialled')
    h.children()[kid!]!.send({ type: 'fake.hello' })
    await h.flush()
    assert.equal(dialConns(h.ctx()).pendingInbound(idOf(1)), false, 'added: pending no more')
    assert.equal(dialConns(h.ctx()).connected(idOf(1)), true)
    h.candidate(nodeOf(1))
    await h.flush()
    assert.equal(h.connects.size, 0, 'connected: not dialled')
    await h.toPeer(idOf(1), { type: 'fake.closed' })
    assert.equal(dialConns(h.ctx()).connected(idOf(1)), false)
    h.candidate(nodeOf(1))
    await h.flush()
    assert.equal(h.connects.size, 1, 'gone: dialled again')
    h.actor.stop()
  })

  it('two connections racing through the handshake: the second is refused at addPeer', async () => {
    const h = await running({ maxPeers: 5 }, { autoPeers: false })
    await h.inbound(fakeConn(1))
    await h.inbound(fakeConn(1))
    const [a, b] = Object.keys(h.children()).filter((id) => id.startsWith('peer:in:'))
    h.children()[a!]!.send({ type: 'fake.enc' })
    h.children()[b!]!.send({ type: 'fake.enc' })
    await h.flush()
    assert.equal(
      dialConns(h.ctx()).pendingInbound(idOf(1)),
      true,
      'pending inbound for checkDial (geth inboundPending)',
    )
    h.children()[a!]!.send({ type: 'fake.hello' })
    await h.flush()
    h.children()[b!]!.send({ type: 'fake.hello' })
    await h.flush()
    assert.equal(h.ctx().peers.size, 1)
    assert.equal(lastRejection(h), DiscReason.AlreadyConnected)
    assert.equal(dialConns(h.ctx()).pendingInbound(idOf(1)), false, 'the refused one is pending no more')
    assert.equal(Object.keys(h.children()).filter((id) => id.startsWith('peer:')).length, 1)
  })

  it('a peer without a shared protocol is UselessPeer; with no protocols of ours anything goes', async () => {
    const h = await running({ maxPeers: 5 })
    await h.inbound(fakeConn(1, [{ name: 'eth', version: 67 }]))
    assert.equal(lastRejection(h), DiscReason.UselessPeer)
    const h2 = await running({ maxPeers: 5, protocols: [] })
    await h2.inbound(fakeConn(1, []))
    assert.equal(h2.ctx().peers.size, 1)
  })

  it('static nodes are dialled at start, redialled after a drop once the history expires', async () => {
    const h = await running({ maxPeers: 6, staticNodes: [nodeOf(1)] })
    assert.ok(h.connects.has(idOf(1)))
    const dialRef = h.actor.system.get(`dial:${idOf(1)}`)
    assert.ok(dialRef, 'dial machine registered as dial:<id>')
    assert.equal(h.children()[dialRef.id], dialRef, 'a child with a numbered id (dial:<n>)')
    assert.match(dialRef.id, /^dial:\d+$/)
    await h.connect(idOf(1), fakeConn(1))
    const peerRef = h.actor.system.get(`peer:${idOf(1)}`)
    assert.ok(peerRef, 'dialled peer registered as peer:<id>')
    assert.match(peerRef.id, /^peer:out:\d+$/)
    assert.equal(h.children()[dialRef.id], undefined, 'finished dial child stopped')
    assert.equal(h.actor.system.get(`dial:${idOf(1)}`), undefined)
    assert.equal(h.ctx().sched.dials.size, 0)
    await h.toPeer(idOf(1), { type: 'fake.remoteDisconnect', reason: DiscReason.TooManyPeers })
    assert.equal(h.ctx().peers.size, 0)
    assert.equal(h.connects.size, 0, 'recently dialled: not yet')
    h.clock.increment(DIAL_HISTORY_EXPIRATION_MS)
    await h.flush()
    assert.ok(h.connects.has(idOf(1)), 'redialled when the history entry expired')
    await h.connect(idOf(1), new Error('ECONNREFUSED'))
    assert.equal(h.connects.size, 0)
    h.clock.increment(DIAL_HISTORY_EXPIRATION_MS)
    await h.flush()
    assert.ok(h.connects.has(idOf(1)), 'and again after a failed dial')
    assert.deepEqual(h.errors, [])
  })

  it('a dialled connection rejected at a checkpoint fails its dial task', async () => {
    const h = await running({ maxPeers: 6, staticNodes: [nodeOf(1)] })
    await h.inbound(fakeConn(1)) // inbound from the same node wins the race
    await h.connect(idOf(1), fakeConn(1))
    assert.equal(lastRejection(h), DiscReason.AlreadyConnected)
    assert.equal(h.actor.system.get(`dial:${idOf(1)}`), undefined)
    assert.deepEqual(
      Object.keys(h.children()).filter((k) => k.startsWith('dial:')),
      [],
    )
    assert.equal(h.ctx().dial.dialing.size, 0)
    assert.equal(h.ctx().peers.get(idOf(1))!.inbound, true)
  })

  it('static nodes without an endpoint are resolved when a resolver exists', async () => {
    const h = await running({ maxPeers: 6, staticNodes: [nodeOf(1, false)], canResolve: true })
    assert.ok(h.resolves.has(idOf(1)))
    await h.resolve(idOf(1), nodeOf(1))
    assert.ok(h.connects.has(idOf(1)))
    await h.connect(idOf(1), fakeConn(1))
    assert.equal(h.ctx().peers.size, 1)
    assert.equal(
      h.ctx().dial.statics.get(idOf(1))!.node.ip,
      '127.0.0.1',
      'the static entry keeps the endpoint',
    )
  })

  it('peer.add dials, peer.remove disconnects with DiscRequested and stops redialling', async () => {
    const h = await running({ maxPeers: 6 })
    h.actor.send({ type: 'peer.add', node: nodeOf(3) })
    await h.flush()
    await h.connect(idOf(3), fakeConn(3))
    assert.equal(h.ctx().peers.size, 1)
    h.actor.send({ type: 'peer.remove', id: idOf(3) })
    await h.flush()
    const dropped = h.emitted.filter((e) => e.type === 'peer.dropped')
    assert.equal(dropped.length, 1)
    assert.equal(dropped[0]!.reason, DiscReason.Requested)
    assert.equal(dropped[0]!.requestedByRemote, false)
    h.clock.increment(DIAL_HISTORY_EXPIRATION_MS * 3)
    await h.flush()
    assert.equal(h.connects.size, 0, 'removed static node is not redialled')
  })

  it('stop sends DiscQuitting to every peer and waits in stopping until all dropped', async () => {
    const h = await running({ maxPeers: 10, staticNodes: [nodeOf(1), nodeOf(2)] }, { slowClose: true })
    for (let n = 3; n <= 6; n++) await h.inbound(fakeConn(n))
    await h.connect(idOf(1), fakeConn(1))
    assert.equal(h.ctx().peers.size, 5)
    assert.ok(h.connects.has(idOf(2)), 'one dial still connecting')
    h.actor.send({ type: 'stop' })
    await h.flush()
    assert.ok(h.actor.getSnapshot().matches('stopping'))
    assert.deepEqual(
      Object.keys(h.children()).filter((k) => k.startsWith('dial:')),
      [],
      'dial tasks are cancelled',
    )
    const peers = Object.entries(h.children()).filter(([id]) => id.startsWith('peer:'))
    assert.equal(peers.length, 5)
    for (const [, ref] of peers)
      assert.ok(ref!.getSnapshot().matches('closing'), 'each peer got a disconnect')
    for (const [, ref] of peers.slice(0, 4)) ref!.send({ type: 'fake.closed' })
    await h.flush()
    assert.ok(h.actor.getSnapshot().matches('stopping'), 'still one peer to go')
    peers[4]![1]!.send({ type: 'fake.closed' })
    await h.flush()
    assert.equal(h.actor.getSnapshot().status, 'done')
    const reasons = h.emitted.filter((e) => e.type === 'peer.dropped').map((e) => e.reason)
    assert.deepEqual(reasons, [8, 8, 8, 8, 8], 'DiscQuitting')
    assert.deepEqual(Object.keys(h.children()), [])
    assert.deepEqual(h.errors, [])
  })

  it('an inbound connection while not running is refused for the caller to close', async () => {
    const h = createHarness({ maxPeers: 3 })
    h.actor.start()
    assert.equal(await h.inbound(fakeConn(1)), false, 'idle')
    assert.deepEqual(Object.keys(h.children()), [])
    h.actor.send({ type: 'start' })
    await h.flush()
    assert.equal(await h.inbound(fakeConn(1)), true, 'running')
    h.actor.send({ type: 'stop' })
    await h.flush()
    assert.equal(await h.inbound(fakeConn(2)), false, 'stopping or stopped')
  })

  it('a dialled socket arriving after stop is refused too (no orphan connection)', async () => {
    const h = await running({ maxPeers: 3 }, { slowClose: true })
    await h.inbound(fakeConn(1))
    h.actor.send({ type: 'stop' })
    const sock = { late: true }
    h.actor.send({ type: 'dial.connected', id: idOf(2), node: nodeOf(2), flag: 'dynamic', conn: sock })
    await h.flush()
    assert.ok(h.actor.getSnapshot().matches('stopping'))
    assert.deepEqual(h.emitted.at(-1), { type: 'conn.refused', conn: sock })
  })

  it('startup failure ends in stopped with the error as output', async () => {
    const h = createHarness({ maxPeers: 3 }, { manualStartup: true })
    h.actor.start()
    h.actor.send({ type: 'start' })
    await h.flush()
    await h.finishStartup(new Error('listen EADDRINUSE'))
    assert.equal(h.actor.getSnapshot().status, 'done')
    assert.deepEqual(h.actor.getSnapshot().output, { error: 'listen EADDRINUSE' })
  })

  it('the candidate source only gets demand while dial slots are free', async () => {
    const h = await running({ maxPeers: 3 }) // maxDialed 1 → 2 slots
    assert.deepEqual(h.demands, [2])
    h.candidate(nodeOf(1))
    await h.flush()
    assert.equal(h.demands.at(-1), 1)
    await h.connect(idOf(1), fakeConn(1))
    assert.equal(h.demands.at(-1), 0, 'dialled share full')
    h.candidate(nodeOf(2))
    await h.flush()
    assert.equal(h.connects.size, 0, 'an unwanted candidate is dropped')
    await h.toPeer(idOf(1), { type: 'fake.remoteDisconnect', reason: DiscReason.Requested })
    assert.equal(h.demands.at(-1), 2)
    assert.equal(ETH68.version, 68)
  })
})

// --- with the real peer machine -----------------------------------------------------------------------

/** A PeerTransport whose ECIES handshake yields `remotePub` and whose first message is their Hello. */
class LoopTransport implements PeerTransport {
  readonly inbox = new MsgChannel()
  readonly messages$ = this.inbox.messages$
  readonly closes: (number | undefined)[] = []
  constructor(readonly remotePub: Uint8Array) {}
  async encHandshake() {
    const hello: Hello = { version: 5, name: 'remote/v1', caps: [ETH68], listenPort: 0, id: this.remotePub }
    const payload = encodeHello(hello)
    queueMicrotask(() =>
      this.inbox.push({ code: P2P_MSG.hello, size: payload.length, payload, receivedAt: 0 }),
    )
    return this.remotePub
  }
  async send() {}
  setSnappy() {}
  close(reason?: number) {
    this.closes.push(reason)
    this.inbox.complete()
  }
}

describe('server with the real peer machine', () => {
  const OUR_PUB = new Uint8Array(64).fill(0xee)
  const self = bytesToHex(keccak256(OUR_PUB))
  const localHello: Hello = { version: 5, name: 'us/v1', caps: [ETH68], listenPort: 0, id: OUR_PUB }
  const start = async (maxPeers: number) => {
    const actor = createActor(serverMachine.provide({ actors: { peer: peerMachine } }), {
      input: {
        self,
        maxPeers,
        protocols: [],
        makePeerInput: (s: PeerSpawnInput) => ({
          transport: s.conn as PeerTransport,
          inbound: s.inbound,
          dialDest: s.dialDest,
          localHello,
          protocols: [],
        }),
      },
    })
    const errors: unknown[] = []
    actor.subscribe({ error: (e) => errors.push(e) })
    actor.start()
    actor.send({ type: 'start' })
    await settle()
    const inbound = new InboundPeers(actor)
    return { actor, errors, inbound }
  }
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r))
  }

  it('admits, refuses AlreadyConnected / Self / TooManyPeers with the reason on the wire, and drains on stop', async () => {
    const { actor, errors, inbound } = await start(3)
    try {
      const pub = (n: number) => new Uint8Array(64).fill(n)
      const a = new LoopTransport(pub(1))
      inbound.start(a)
      await settle()
      assert.deepEqual([...actor.getSnapshot().context.peers.keys()], [bytesToHex(keccak256(pub(1)))])
      const twin = new LoopTransport(pub(1))
      inbound.start(twin)
      const me = new LoopTransport(OUR_PUB)
      inbound.start(me)
      await settle()
      assert.deepEqual(twin.closes, [DiscReason.AlreadyConnected])
      assert.deepEqual(me.closes, [DiscReason.Self])
      const b = new LoopTransport(pub(2))
      inbound.start(b)
      const c = new LoopTransport(pub(3))
      inbound.start(c)
      await settle()
      assert.equal(actor.getSnapshot().context.peers.size, 2, 'maxPeers 3: maxInbound 2')
      assert.deepEqual(b.closes, [])
      assert.deepEqual(c.closes, [DiscReason.TooManyPeers])
      assert.deepEqual(
        [...inbound.refs()].map((r) => r.id).sort(),
        // twin (1) and me (2) ended, so b reused 2 (last freed first) and c 1; c was refused
        ['peer:in:0', 'peer:in:2'],
        'rejected peers ended',
      )
      assert.deepEqual(
        [...actor.getSnapshot().context.conns.keys()].sort(),
        ['peer:in:0', 'peer:in:2'],
        'the supervisor records the accepted peers only',
      )
      actor.send({ type: 'stop' })
      await settle()
      assert.equal(actor.getSnapshot().status, 'done')
      assert.deepEqual(a.closes, [DiscReason.Quitting])
      assert.deepEqual(b.closes, [DiscReason.Quitting])
      assert.deepEqual(errors, [])
    } finally {
      actor.stop()
    }
  })

  it('reuses the child ids of ended connections (ids stay bounded by the connections alive at once)', async () => {
    const { actor, errors, inbound } = await start(3)
    try {
      const seen = new Set<string>()
      for (let i = 0; i < 20; i++) {
        const t = new LoopTransport(new Uint8Array(64).fill(1 + (i % 3)))
        inbound.start(t)
        await settle()
        for (const r of inbound.refs()) seen.add(r.id)
        assert.equal(actor.getSnapshot().context.peers.size, 1)
        t.close()
        await settle()
        assert.equal(actor.getSnapshot().context.peers.size, 0)
      }
      assert.deepEqual([...seen], ['peer:in:0'])
      assert.equal(inbound.size, 0)
      assert.deepEqual(errors, [])
    } finally {
      actor.stop()
    }
  })
})
