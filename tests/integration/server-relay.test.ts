// The checkpoint relay's simultaneous-dial tie-break (actors/server-relay.ts), with stand-in peer actors:
// post-handshake events pass at once, a losing connection's add-peer waits while a winning one is between its
// checkpoints, and goes on once the winner is added or gone; without a competitor nothing is held.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type AnyActorRef, createActor, fromCallback } from 'xstate'
import { type CheckpointEvent, createCheckpointRelay } from '../../actors/server-relay.ts'

const LOW = '11'.repeat(32)
const HIGH = 'ee'.repeat(32)

function fakePeer(): AnyActorRef {
  const a = createActor(fromCallback(() => () => {}))
  a.start()
  return a as AnyActorRef
}

function setup(self: string) {
  const forwarded: CheckpointEvent[] = []
  const relay = createCheckpointRelay({ self, forward: (e) => forwarded.push(e) })
  const send = (type: CheckpointEvent['type'], peer: AnyActorRef, id: string, inbound: boolean) =>
    relay.ref.send({ type, peer, id, inbound })
  return { relay, forwarded, send }
}

describe('checkpoint relay', () => {
  it('we have the smaller id: the remote-dialled (inbound) connection waits for ours', () => {
    const { relay, forwarded, send } = setup(LOW)
    const ours = fakePeer()
    const theirs = fakePeer()
    send('checkpoint.postHandshake', ours, HIGH, false)
    send('checkpoint.postHandshake', theirs, HIGH, true)
    assert.equal(forwarded.length, 2)
    send('checkpoint.addPeer', theirs, HIGH, true)
    assert.equal(forwarded.length, 2, 'held')
    assert.equal(relay.held(), 1)
    send('checkpoint.addPeer', ours, HIGH, false)
    assert.equal(forwarded.at(-1)!.peer, ours, 'the winner passes at once')
    relay.released(ours) // added
    assert.equal(forwarded.at(-1)!.peer, theirs, 'the loser goes on to be refused (AlreadyConnected)')
    assert.equal(relay.held(), 0)
    relay.stop()
  })

  it('we have the larger id: our own dial loses, and goes on when the winner fails', () => {
    const { relay, forwarded, send } = setup(HIGH)
    const ours = fakePeer()
    const theirs = fakePeer()
    send('checkpoint.postHandshake', theirs, LOW, true)
    send('checkpoint.postHandshake', ours, LOW, false)
    send('checkpoint.addPeer', ours, LOW, false)
    assert.equal(relay.held(), 1)
    relay.released(theirs) // the winner dropped in its Hello
    assert.equal(forwarded.at(-1)!.peer, ours)
    assert.equal(forwarded.at(-1)!.type, 'checkpoint.addPeer')
    relay.stop()
  })

  it('nothing is held without a competing connection, or when the loser itself ends', () => {
    const { relay, forwarded, send } = setup(HIGH)
    const ours = fakePeer()
    send('checkpoint.postHandshake', ours, LOW, false)
    send('checkpoint.addPeer', ours, LOW, false)
    assert.equal(forwarded.length, 2)
    const a = fakePeer()
    const b = fakePeer()
    send('checkpoint.postHandshake', a, LOW, true)
    send('checkpoint.postHandshake', b, LOW, false)
    send('checkpoint.addPeer', b, LOW, false)
    assert.equal(relay.held(), 1)
    relay.released(b) // the held loser closed (e.g. stop)
    assert.equal(relay.held(), 0)
    relay.released(a)
    assert.equal(forwarded.filter((e) => e.peer === b).length, 1, 'never forwarded after it ended')
    relay.stop()
  })
})
