// The supervisor's simultaneous-dial tie-break (machines/tie-break.ts, run by machines/server.machine.ts):
// the pure counting and waiting rule, then the machine with fake peers driven by hand — a losing connection's
// add-peer waits while a winning one is between its checkpoints, and is checked once the winner is added or
// gone; without a competitor nothing waits; a held connection that ends is never answered.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AnyActorRef } from 'xstate'
import { DiscReason } from '../../../codecs/p2p.ts'
import { PersistentMap } from '../../../machines/persistent-map.ts'
import { dialConns } from '../../../machines/server-steps.ts'
import { type Between, countBetween, mustWait } from '../../../machines/tie-break.ts'
import { createHarness, fakeConn, idOf, nodeOf } from '../../mbt/server-harness.ts'

// SELF is ee…: node 1 (01…) has the smaller id, node 0xff (ff…) the larger
const LOW = 1
const HIGH = 0xff

describe('tie-break rule', () => {
  const empty = PersistentMap.empty<string, Between>()
  it('counts connections per id and direction, and forgets an id at zero', () => {
    let m = countBetween(empty, 'x', true, 1)
    m = countBetween(m, 'x', false, 1)
    m = countBetween(m, 'x', true, 1)
    assert.deepEqual(m.get('x'), { inbound: 2, outbound: 1 })
    m = countBetween(countBetween(countBetween(m, 'x', true, -1), 'x', true, -1), 'x', false, -1)
    assert.equal(m.has('x'), false)
  })
  it('only the connection dialled by the larger id waits, and only for one the other way', () => {
    const self = '55'.repeat(32)
    const low = '11'.repeat(32)
    const high = 'ee'.repeat(32)
    const both = (id: string) => countBetween(countBetween(empty, id, true, 1), id, false, 1)
    // the remote with the larger id dialled us: its connection loses to ours
    assert.equal(mustWait(both(high), self, high, true), true)
    assert.equal(mustWait(both(high), self, high, false), false)
    // we have the larger id: our own dial loses
    assert.equal(mustWait(both(low), self, low, false), true)
    assert.equal(mustWait(both(low), self, low, true), false)
    // no competitor the other way, or a self-dial
    assert.equal(mustWait(countBetween(empty, high, true, 1), self, high, true), false)
    assert.equal(mustWait(both(self), self, self, true), false)
  })
})

/** a supervisor with one dialled and one inbound connection to node `n`, both past post-handshake */
async function simultaneous(n: number) {
  const h = createHarness({ maxPeers: 6, staticNodes: [nodeOf(n)] }, { autoPeers: false })
  h.actor.start()
  h.actor.send({ type: 'start' })
  await h.flush()
  await h.connect(idOf(n), fakeConn(n))
  await h.inbound(fakeConn(n))
  const kids = Object.keys(h.children())
  const ours = h.children()[kids.find((k) => k.startsWith('peer:out:'))!] as AnyActorRef
  const theirs = h.children()[kids.find((k) => k.startsWith('peer:in:'))!] as AnyActorRef
  ours.send({ type: 'fake.enc' })
  theirs.send({ type: 'fake.enc' })
  await h.flush()
  assert.deepEqual(h.ctx().between.get(idOf(n)), { inbound: 1, outbound: 1 })
  const state = (p: AnyActorRef) => p.getSnapshot().value as string
  const verdicts = () => h.emitted.filter((e) => e.type === 'peer.added' || e.type === 'conn.rejected')
  return { h, ours, theirs, state, verdicts }
}

describe('supervisor tie-break', () => {
  it('we have the larger id: their connection wins, ours waits and is then refused (AlreadyConnected)', async () => {
    const { h, ours, theirs, state, verdicts } = await simultaneous(LOW)
    ours.send({ type: 'fake.hello' })
    await h.flush()
    assert.equal(h.ctx().held.length, 1, 'our dial is held at add-peer')
    assert.equal(state(ours), 'protoHandshakeChecks')
    assert.equal(verdicts().length, 0)
    theirs.send({ type: 'fake.hello' })
    await h.flush()
    assert.equal(h.ctx().peers.get(idOf(LOW))?.inbound, true, 'the winner (their dial) is added')
    const refused = verdicts().find((e) => e.type === 'conn.rejected')
    assert.equal(
      refused?.reason,
      DiscReason.AlreadyConnected,
      'the loser is checked once the winner is added',
    )
    assert.equal(refused?.inbound, false)
    assert.equal(h.ctx().held.length, 0)
    await h.flush()
    assert.equal(h.ctx().between.size, 0)
    h.actor.stop()
  })

  it('the remote has the larger id: its connection waits, and is accepted when ours fails', async () => {
    const { h, ours, theirs, state } = await simultaneous(HIGH)
    theirs.send({ type: 'fake.hello' })
    await h.flush()
    assert.equal(h.ctx().held.length, 1)
    assert.equal(state(theirs), 'protoHandshakeChecks')
    ours.send({ type: 'fake.closed' }) // the winner dropped in its Hello
    await h.flush()
    assert.equal(h.ctx().peers.get(idOf(HIGH))?.inbound, true, 'the waiting connection is added')
    assert.equal(state(theirs), 'running')
    assert.equal(h.ctx().held.length, 0)
    assert.equal(h.ctx().between.size, 0)
    h.actor.stop()
  })

  it('the winner passes at once; nothing waits without a competitor', async () => {
    const { h, ours, state } = await simultaneous(HIGH)
    ours.send({ type: 'fake.hello' })
    await h.flush()
    assert.equal(state(ours), 'running', 'our dial wins against a remote with the larger id')
    assert.equal(h.ctx().held.length, 0)
    h.actor.stop()
    const solo = createHarness({ maxPeers: 6 }, { autoPeers: true })
    solo.actor.start()
    solo.actor.send({ type: 'start' })
    await solo.flush()
    await solo.inbound(fakeConn(HIGH))
    assert.deepEqual(solo.peerIds(), [idOf(HIGH)])
    assert.equal(solo.ctx().between.size, 0)
    solo.actor.stop()
  })

  it('an inbound connection is counted only while a dial to its id runs (no dial can start while it is between)', async () => {
    const h = createHarness({ maxPeers: 6 }, { autoPeers: false })
    h.actor.start()
    h.actor.send({ type: 'start' })
    await h.flush()
    await h.inbound(fakeConn(HIGH))
    const [kid] = Object.keys(h.children()).filter((k) => k.startsWith('peer:in:'))
    const theirs = h.children()[kid!] as AnyActorRef
    theirs.send({ type: 'fake.enc' })
    await h.flush()
    assert.equal(h.ctx().between.size, 0, 'no dial to it runs: no competitor can appear')
    assert.equal(dialConns(h.ctx()).pendingInbound(idOf(HIGH)), true, 'and none can start meanwhile')
    theirs.send({ type: 'fake.hello' })
    await h.flush()
    assert.deepEqual(h.peerIds(), [idOf(HIGH)])
    h.actor.stop()
    // with a dial to the same node running, the inbound connection is counted (simultaneous() asserts both ways)
    const s = await simultaneous(HIGH)
    assert.deepEqual(s.h.ctx().between.get(idOf(HIGH)), { inbound: 1, outbound: 1 })
    s.h.actor.stop()
  })

  it('a held connection that ends is dropped from the queue and never answered', async () => {
    const { h, ours, theirs, verdicts } = await simultaneous(LOW)
    ours.send({ type: 'fake.hello' })
    await h.flush()
    assert.equal(h.ctx().held.length, 1)
    ours.send({ type: 'fake.closed' })
    await h.flush()
    assert.equal(h.ctx().held.length, 0)
    assert.deepEqual(h.ctx().between.get(idOf(LOW)), { inbound: 1, outbound: 0 })
    theirs.send({ type: 'fake.hello' })
    await h.flush()
    assert.deepEqual(
      verdicts().map((e) => e.type),
      ['peer.added'],
      'only the winner got a verdict',
    )
    assert.equal(h.ctx().between.size, 0)
    h.actor.stop()
  })
})
