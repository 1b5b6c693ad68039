import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createActor, setup } from 'xstate'
import { fromTask } from '../../../machines/task.ts'

const tick = () => new Promise<void>((r) => setImmediate(r))

function invoking<T>(logic: ReturnType<typeof fromTask<T, number>>) {
  return setup({
    actors: { task: logic },
    types: { context: {} as { out?: T; err?: unknown } },
  }).createMachine({
    context: {},
    initial: 'running',
    states: {
      running: {
        invoke: {
          src: 'task',
          input: 7,
          onDone: {
            target: 'done',
            actions: ({ event }) => {
              lastOutput = event.output
            },
          },
          onError: {
            target: 'failed',
            actions: ({ event }) => {
              lastError = event.error
            },
          },
        },
        on: { leave: 'left' },
      },
      done: { type: 'final' },
      failed: { type: 'final' },
      left: { type: 'final' },
    },
  })
}
let lastOutput: unknown
let lastError: unknown

describe('fromTask (promise actor logic without an eager AbortController)', () => {
  it('resolves as xstate.done.actor with the output, and gets its input', async () => {
    const a = createActor(invoking(fromTask(async ({ input }: { input: number }) => input * 6)))
    a.start()
    await tick()
    assert.equal(a.getSnapshot().value, 'done')
    assert.equal(lastOutput, 42)
  })

  it('a rejection or a synchronous throw is xstate.error.actor', async () => {
    for (const run of [
      async () => {
        throw new Error('async boom')
      },
      () => {
        throw new Error('sync boom')
      },
    ]) {
      const a = createActor(invoking(fromTask<number, number>(run)))
      a.start()
      await tick()
      assert.equal(a.getSnapshot().value, 'failed')
      assert.match((lastError as Error).message, /boom/)
    }
  })

  it('onStop hooks and the lazily created signal run only when stopped while active', async () => {
    const calls: string[] = []
    let signal: AbortSignal | undefined
    let finish!: (n: number) => void
    const logic = fromTask<number, number>(({ onStop, signal: s }) => {
      onStop(() => calls.push('stop'))
      signal = s
      return new Promise<number>((r) => {
        finish = r
      })
    })
    const a = createActor(invoking(logic))
    a.start()
    a.send({ type: 'leave' })
    assert.deepEqual(calls, ['stop'])
    assert.equal(signal?.aborted, true)
    finish(1) // settles after the stop: ignored
    await tick()
    assert.equal(a.getSnapshot().value, 'left')

    calls.length = 0
    const b = createActor(
      invoking(
        fromTask<number, number>(async ({ onStop }) => {
          onStop(() => calls.push('x'))
          return 3
        }),
      ),
    )
    b.start()
    await tick()
    assert.equal(b.getSnapshot().value, 'done')
    assert.deepEqual(calls, [], 'a settled task is not cancelled when its state exits')
  })

  it('the parameters have no own accessor: a per-call getter kept every task actor alive through young-generation GCs', async () => {
    const seen: object[] = []
    const logic = fromTask<number, number>((params) => {
      seen.push(params)
      return 1
    })
    for (let i = 0; i < 2; i++) createActor(invoking(logic)).start()
    await tick()
    assert.equal(seen.length, 2)
    const [p1, p2] = seen as [object, object]
    assert.equal(Object.getOwnPropertyDescriptor(p1, 'signal'), undefined)
    assert.equal(Object.getPrototypeOf(p1), Object.getPrototypeOf(p2))
    assert.equal(typeof Object.getOwnPropertyDescriptor(Object.getPrototypeOf(p1), 'signal')?.get, 'function')
  })

  it('a result arriving after the parent stopped is dropped', async () => {
    let finish!: (n: number) => void
    const a = createActor(
      invoking(
        fromTask<number, number>(
          () =>
            new Promise<number>((r) => {
              finish = r
            }),
        ),
      ),
    )
    a.start()
    a.stop()
    finish(5)
    await tick()
    assert.equal(a.getSnapshot().status, 'stopped')
  })
})
