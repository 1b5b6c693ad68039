// machines/inbound-peers.ts: inbound peers created beside the supervisor, with it as their XState parent.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type AnyActorRef, createActor, fromPromise, type InspectionEvent } from 'xstate'
import { InboundPeers } from '../../../machines/inbound-peers.ts'
import type { PeerOutput } from '../../../machines/peer.machine.ts'
import { serverMachine } from '../../../machines/server.machine.ts'

const SELF = 'ee'.repeat(32)
const settle = () => new Promise<void>((r) => setImmediate(r))

/** A supervisor whose peers are promises the test ends: conn = { end(output) / fail(error) } set by the peer. */
function setup() {
  type Conn = { end?: (o: PeerOutput) => void; fail?: (e: Error) => void }
  const peer = fromPromise<PeerOutput, { conn: Conn }>(
    ({ input }) =>
      new Promise((resolve, reject) => {
        input.conn.end = resolve
        input.conn.fail = reject
      }),
  )
  const inspected: InspectionEvent[] = []
  const sup = createActor(serverMachine.provide({ actors: { peer } }), {
    input: { self: SELF, maxPeers: 10, makePeerInput: (s) => ({ conn: s.conn }) },
    inspect: (e) => inspected.push(e),
  })
  const errors: unknown[] = []
  sup.subscribe({ error: (e) => errors.push(e) })
  inspected.length = 0
  return { sup, inbound: new InboundPeers(sup), inspected, errors, conn: (): Conn => ({}) }
}

describe('InboundPeers', () => {
  it('starts peers only while the supervisor runs', async () => {
    const { sup, inbound, conn } = setup()
    assert.equal(inbound.start(conn()), undefined, 'not started')
    sup.start()
    assert.equal(inbound.start(conn()), undefined, 'idle')
    sup.send({ type: 'start' })
    await settle()
    assert.ok(sup.getSnapshot().matches('running'))
    assert.ok(inbound.start(conn()))
    sup.send({ type: 'stop' })
    assert.equal(inbound.start(conn()), undefined, 'stopped')
    await settle()
  })

  it("peers live in the supervisor's system as its non-child children, and their done events reach it", async () => {
    const { sup, inbound, inspected, errors, conn } = setup()
    sup.start()
    sup.send({ type: 'start' })
    await settle()
    const c = conn()
    const ref = inbound.start(c)!
    assert.equal(ref.id, 'peer:in:0')
    assert.equal(ref.system, sup.system, "the supervisor's actor system")
    assert.equal((ref as { _parent?: AnyActorRef })._parent, sup, 'the supervisor is the XState parent')
    assert.equal(inbound.get('peer:in:0'), ref)
    assert.equal((sup.getSnapshot().children as Record<string, unknown>)['peer:in:0'], undefined, 'no child')
    assert.ok(
      inspected.some((e) => e.type === '@xstate.actor' && e.actorRef === ref),
      'the inspector sees the peer',
    )
    c.end!({ reason: 8, requestedByRemote: false })
    await settle()
    assert.ok(
      inspected.some(
        (e) =>
          e.type === '@xstate.event' && e.actorRef === sup && e.event.type === 'xstate.done.actor.peer:in:0',
      ),
      'the done event went to the supervisor',
    )
    assert.equal(inbound.size, 0)
    assert.deepEqual(errors, [])
    sup.stop()
  })

  it('reuses the numbers of ended peers, also of failed ones', async () => {
    const { sup, inbound, errors, conn } = setup()
    sup.start()
    sup.send({ type: 'start' })
    await settle()
    const cs = [conn(), conn(), conn()]
    const ids = cs.map((c) => inbound.start(c)!.id)
    assert.deepEqual(ids, ['peer:in:0', 'peer:in:1', 'peer:in:2'])
    cs[1]!.fail!(new Error('boom'))
    cs[0]!.end!({ reason: 4, requestedByRemote: true })
    await settle()
    assert.equal(inbound.size, 1)
    // last freed first
    assert.equal(inbound.start(conn())!.id, 'peer:in:0')
    assert.equal(inbound.start(conn())!.id, 'peer:in:1')
    assert.equal(inbound.start(conn())!.id, 'peer:in:3')
    assert.deepEqual(errors, [], "a failed peer is no error of the supervisor's")
    assert.ok(sup.getSnapshot().matches('running'))
    sup.stop()
  })
})
