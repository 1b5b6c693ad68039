// leanActorSystem (machines/actor-system.ts): XState keeps working on a lean system (children, invoked and
// spawned actors, systemId lookups, done events, stopping; delayed transitions, delayed and cancelled raises,
// each actor's timers cancelled when it stops and no one else's), applying it twice is harmless, an unknown
// system is left alone, and the effect it is for: short-lived actors under a long-lived parent promote far fewer
// bytes.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type AnyActorRef,
  assign,
  createActor,
  enqueueActions,
  fromPromise,
  SimulatedClock,
  setup,
} from 'xstate'
import { leanActorSystem } from '../../../machines/actor-system.ts'
import { promotedBytes } from '../../helpers/gc-trace.ts'

/** promoted bytes of actors under a long-lived parent, without pretenuring (whose effect would hide this one) */
const promoted = async (lean: boolean) =>
  (
    await promotedBytes({ PARENT: '1', LEAN: lean ? '1' : '0', DEVP2P_V8_TUNING: '0' }, [
      '--no-allocation-site-pretenuring',
    ])
  ).bytes

describe('leanActorSystem', () => {
  it('children, invokes, spawns with systemIds, done events and stop work as before', async () => {
    const machine = setup({
      actors: { work: fromPromise(async ({ input }: { input: number }) => input * 2) },
    }).createMachine({
      context: { got: [] as number[], spawned: undefined as AnyActorRef | undefined },
      initial: 'a',
      states: {
        a: {
          invoke: {
            src: 'work',
            input: 21,
            onDone: {
              target: 'b',
              actions: assign({ got: ({ context, event }) => [...context.got, event.output] }),
            },
          },
        },
        b: {
          entry: assign({ spawned: ({ spawn }) => spawn('work', { id: 'w', systemId: 'worker', input: 4 }) }),
          on: {
            'xstate.done.actor.w': {
              target: 'c',
              actions: assign({ got: ({ context, event }) => [...context.got, event.output as number] }),
            },
          },
        },
        c: { type: 'final' },
      },
    })
    const actor = createActor(machine)
    assert.equal(leanActorSystem(actor), true)
    assert.equal(leanActorSystem(actor), true)
    let sawWorker = false
    actor.subscribe((s) => {
      if (s.value === 'b' && actor.system.get('worker') !== undefined) sawWorker = true
    })
    const done = new Promise<void>((resolve) => actor.subscribe({ complete: resolve }))
    actor.start()
    await done
    assert.deepEqual(actor.getSnapshot().context.got, [42, 8])
    assert.equal(sawWorker, true)
    assert.equal(actor.system.get('worker'), undefined)
  })

  it('delayed events: after, delayed raise, cancel, replace, and each actor stop cancels only its own', () => {
    const fired: string[] = []
    const child = setup({}).createMachine({
      initial: 'wait',
      states: {
        wait: { after: { 1000: { target: 'rung', actions: () => fired.push('child') } } },
        rung: {},
      },
    })
    const parent = setup({ actors: { child } }).createMachine({
      initial: 'a',
      on: {
        spawn: { actions: enqueueActions(({ enqueue }) => enqueue.spawnChild('child', { id: 'c1' })) },
        spawn2: { actions: enqueueActions(({ enqueue }) => enqueue.spawnChild('child', { id: 'c2' })) },
        kill: { actions: enqueueActions(({ enqueue }) => enqueue.stopChild('c1')) },
        later: {
          actions: enqueueActions(({ enqueue }) => enqueue.raise({ type: 'ping' }, { id: 'p', delay: 500 })),
        },
        cancelLater: { actions: enqueueActions(({ enqueue }) => enqueue.cancel('p')) },
        ping: { actions: () => fired.push('ping') },
      },
      states: {
        a: { after: { 300: { target: 'b', actions: () => fired.push('after') } }, on: { leave: 'b' } },
        b: {},
      },
    })
    const clock = new SimulatedClock()
    const actor = createActor(parent, { clock })
    assert.equal(leanActorSystem(actor), true)
    actor.start()
    actor.send({ type: 'spawn' })
    actor.send({ type: 'spawn2' })
    actor.send({ type: 'later' })
    const scheduler = actor.system.scheduler as unknown as { size: number }
    assert.equal(scheduler.size, 4, "the parent's after and delayed raise, each child's after")
    clock.increment(300)
    assert.deepEqual(fired, ['after'])
    actor.send({ type: 'kill' })
    assert.equal(scheduler.size, 2, 'stopping c1 cancelled its timer only')
    actor.send({ type: 'later' })
    assert.equal(scheduler.size, 2, 'the same raise id again replaces the pending one')
    clock.increment(500)
    assert.deepEqual(fired, ['after', 'ping'], 'the replaced raise fired once')
    actor.send({ type: 'later' })
    actor.send({ type: 'cancelLater' })
    clock.increment(1000)
    assert.deepEqual(fired, ['after', 'ping', 'child'], 'cancelled raise never fires; c2 fires, c1 does not')
    assert.equal(scheduler.size, 0)
    actor.send({ type: 'later' })
    actor.stop()
    assert.equal(scheduler.size, 0, 'stopping the root cancels its pending raise')
    clock.increment(1000)
    assert.deepEqual(fired, ['after', 'ping', 'child'])
  })

  it('leaves a system without the expected registry alone', () => {
    const fake = { system: {} } as unknown as AnyActorRef
    assert.equal(leanActorSystem(fake), false)
    assert.deepEqual(Object.keys(fake.system), [])
  })

  it('leaves a system that already holds delayed events alone', () => {
    const m = setup({}).createMachine({ after: { 1000: {} } })
    const actor = createActor(m, { clock: new SimulatedClock() })
    actor.start()
    assert.equal(leanActorSystem(actor), false)
    actor.stop()
  })

  it('short-lived actors under a long-lived parent promote under 70 % of the bytes with it', async () => {
    const lean = await promoted(true)
    const plain = await promoted(false)
    assert.ok(plain > 0)
    assert.ok(lean < 0.7 * plain, `promoted ${lean} B lean vs ${plain} B plain`)
  })
})
