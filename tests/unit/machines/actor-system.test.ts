// leanActorSystem (machines/actor-system.ts): XState keeps working on a lean system (children, invoked and
// spawned actors, systemId lookups, done events, stopping), applying it twice is harmless, an unknown system is
// left alone, and the effect it is for: short-lived actors under a long-lived parent promote far fewer bytes.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type AnyActorRef, assign, createActor, fromPromise, setup } from 'xstate'
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

  it('leaves a system without the expected registry alone', () => {
    const fake = { system: {} } as unknown as AnyActorRef
    assert.equal(leanActorSystem(fake), false)
    assert.deepEqual(Object.keys(fake.system), [])
  })

  it('short-lived actors under a long-lived parent promote under 70 % of the bytes with it', async () => {
    const lean = await promoted(true)
    const plain = await promoted(false)
    assert.ok(plain > 0)
    assert.ok(lean < 0.7 * plain, `promoted ${lean} B lean vs ${plain} B plain`)
  })
})
