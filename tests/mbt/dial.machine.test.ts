// Model-based tests for machines/dial.machine.ts (xstate/graph): an abstract model of geth's dialTask.run
// (resolve first for static nodes without an endpoint, one re-resolve after a failed static connect,
// 15 s dial timeout) is traversed; every shortest path and every simple path is executed against the real
// dial machine with fake `resolve` / `connect` actors on a SimulatedClock.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { assign, createActor, createMachine, fromPromise, SimulatedClock } from 'xstate'
import { createTestModel } from 'xstate/graph'
import { hexToBytes } from '../../codecs/bytes.ts'
import type { Node } from '../../codecs/node.ts'
import { DIAL_TIMEOUT_MS, type DialOutput, dialMachine } from '../../machines/dial.machine.ts'
import type { DialTask } from '../../machines/dial-scheduler.ts'

const ID = '01'.repeat(32)
const withAddr: Node = { id: hexToBytes(ID), pubkey: new Uint8Array(64), ip: '127.0.0.1', tcp: 30303 }
const noAddr: Node = { id: hexToBytes(ID), pubkey: new Uint8Array(64) }
const noPort: Node = { id: hexToBytes(ID), pubkey: new Uint8Array(64), ip: '127.0.0.1' }
const found: Node = { id: hexToBytes(ID), pubkey: new Uint8Array(64), ip: '127.0.0.77', tcp: 30304 }

const TASKS: Record<string, DialTask> = {
  'task.dynamic': { id: ID, node: withAddr, flag: 'dynamic', mayResolve: false },
  'task.static': { id: ID, node: withAddr, flag: 'static', mayResolve: true },
  'task.staticThrottled': { id: ID, node: withAddr, flag: 'static', mayResolve: false },
  'task.unresolved': { id: ID, node: noAddr, flag: 'static', mayResolve: true },
  'task.unresolvedThrottled': { id: ID, node: noAddr, flag: 'static', mayResolve: false },
  'task.noPort': { id: ID, node: noPort, flag: 'static', mayResolve: true },
}

type ModelEvent = { type: keyof typeof TASKS | ModelStep }
type ModelStep =
  | 'resolve.found'
  | 'resolve.notFound'
  | 'resolve.error'
  | 'connect.ok'
  | 'connect.fail'
  | 'connect.timeout'
  | 'handshake.done'
  | 'handshake.failed'

interface ModelContext {
  task: string
  flag: 'static' | 'dynamic' | ''
  mayResolve: boolean
  resolvedThisRun: boolean
  resolved: 'none' | 'found' | 'notFound'
}

const startWith = (task: keyof typeof TASKS) => ({
  task: () => task,
  flag: () => TASKS[task]!.flag,
  mayResolve: () => TASKS[task]!.mayResolve,
})

/** The abstract model: what geth's dialTask.run does, written down independently of the machine. */
const model = createMachine({
  types: {} as { context: ModelContext; events: ModelEvent },
  id: 'dialModel',
  context: { task: '', flag: '', mayResolve: false, resolvedThisRun: false, resolved: 'none' },
  initial: 'idle',
  states: {
    idle: {
      on: {
        'task.dynamic': { target: 'connecting', actions: assign(startWith('task.dynamic')) },
        'task.static': { target: 'connecting', actions: assign(startWith('task.static')) },
        'task.staticThrottled': { target: 'connecting', actions: assign(startWith('task.staticThrottled')) },
        'task.unresolved': { target: 'resolving', actions: assign(startWith('task.unresolved')) },
        'task.unresolvedThrottled': {
          target: 'failed',
          actions: assign(startWith('task.unresolvedThrottled')),
        },
        'task.noPort': { target: 'failed', actions: assign(startWith('task.noPort')) },
      },
    },
    resolving: {
      on: {
        'resolve.found': {
          target: 'connecting',
          actions: assign({ resolvedThisRun: true, resolved: 'found' }),
        },
        'resolve.notFound': {
          target: 'failed',
          actions: assign({ resolvedThisRun: true, resolved: 'notFound' }),
        },
        'resolve.error': { target: 'failed' },
      },
    },
    connecting: {
      on: {
        'connect.ok': 'handshaking',
        'connect.fail': [
          {
            guard: ({ context }) =>
              context.flag === 'static' && context.mayResolve && !context.resolvedThisRun,
            target: 'resolving',
          },
          { target: 'failed' },
        ],
        'connect.timeout': [
          {
            guard: ({ context }) =>
              context.flag === 'static' && context.mayResolve && !context.resolvedThisRun,
            target: 'resolving',
          },
          { target: 'failed' },
        ],
      },
    },
    handshaking: { on: { 'handshake.done': 'done', 'handshake.failed': 'failed' } },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
})

interface Deferred<T> {
  promise: Promise<T>
  resolve(v: T): void
  reject(e: unknown): void
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** The system under test: the real dial machine with hand-driven fake effects. */
function createSut(task: DialTask) {
  const clock = new SimulatedClock()
  const pending: { resolve?: Deferred<Node | null>; connect?: Deferred<unknown> } = {}
  const calls: { resolve: Node[]; connect: Node[] } = { resolve: [], connect: [] }
  const handed: unknown[] = []
  const machine = dialMachine.provide({
    actors: {
      resolve: fromPromise<Node | null, { node: Node }>(({ input }) => {
        calls.resolve.push(input.node)
        pending.resolve = deferred()
        return pending.resolve.promise
      }),
      connect: fromPromise<unknown, { node: Node }>(({ input }) => {
        calls.connect.push(input.node)
        pending.connect = deferred()
        return pending.connect.promise
      }),
    },
    actions: { handOver: ({ context }) => void handed.push(context.conn) },
  })
  const actor = createActor(machine, { input: { task }, clock })
  const errors: unknown[] = []
  actor.subscribe({ error: (e) => errors.push(e) })
  actor.start()
  return { actor, clock, pending, calls, handed, errors }
}

const flush = () => new Promise<void>((r) => setImmediate(r))
const CONN = { fake: 'socket' }

function executors(sut: { current?: ReturnType<typeof createSut> }) {
  const s = () => sut.current!
  const tasks = Object.fromEntries(
    Object.keys(TASKS).map((k) => [
      k,
      () => {
        sut.current = createSut(TASKS[k]!)
      },
    ]),
  )
  return {
    ...tasks,
    'resolve.found': async () => {
      s().pending.resolve!.resolve(found)
      await flush()
    },
    'resolve.notFound': async () => {
      s().pending.resolve!.resolve(null)
      await flush()
    },
    'resolve.error': async () => {
      s().pending.resolve!.reject(new Error('discovery down'))
      await flush()
    },
    'connect.ok': async () => {
      s().pending.connect!.resolve(CONN)
      await flush()
    },
    'connect.fail': async () => {
      s().pending.connect!.reject(new Error('ECONNREFUSED'))
      await flush()
    },
    'connect.timeout': async () => {
      s().clock.increment(DIAL_TIMEOUT_MS - 1)
      assert.ok(
        s().actor.getSnapshot().matches('connecting'),
        'still connecting 1 ms before the dial timeout',
      )
      s().clock.increment(1)
      await flush()
    },
    'handshake.done': async () => {
      s().actor.send({ type: 'dial.handshake.done' })
      await flush()
    },
    'handshake.failed': async () => {
      s().actor.send({ type: 'dial.handshake.failed', error: 'too many peers' })
      await flush()
    },
  }
}

function stateChecks(sut: { current?: ReturnType<typeof createSut> }) {
  const s = () => sut.current!
  const expectedNode = (ctx: ModelContext) => (ctx.resolved === 'found' ? found : TASKS[ctx.task]!.node)
  return {
    idle: () => assert.equal(sut.current, undefined),
    resolving: (st: { context: ModelContext }) => {
      assert.ok(s().actor.getSnapshot().matches('resolving'))
      assert.equal(s().calls.resolve.at(-1), expectedNode(st.context))
    },
    connecting: (st: { context: ModelContext }) => {
      assert.ok(s().actor.getSnapshot().matches('connecting'))
      assert.deepEqual(s().calls.connect.at(-1), expectedNode(st.context))
    },
    handshaking: () => {
      assert.ok(s().actor.getSnapshot().matches('handshaking'))
      assert.deepEqual(s().handed, [CONN], 'the socket is handed over exactly once')
      assert.equal(s().actor.getSnapshot().context.conn, undefined, 'and not kept')
    },
    done: (st: { context: ModelContext }) => {
      const snap = s().actor.getSnapshot()
      assert.equal(snap.status, 'done')
      const out = snap.output as DialOutput
      assert.equal(out.error, undefined)
      assert.deepEqual(out.node, expectedNode(st.context))
      assert.equal(out.flag, TASKS[st.context.task]!.flag)
      assert.equal(out.resolved, st.context.resolved === 'found' ? found : undefined)
    },
    failed: (st: { context: ModelContext }) => {
      const snap = s().actor.getSnapshot()
      assert.equal(snap.status, 'done')
      assert.ok(snap.matches('failed'))
      const out = snap.output as DialOutput
      assert.equal(typeof out.error, 'string')
      assert.equal(
        out.resolved,
        st.context.resolved === 'found' ? found : st.context.resolved === 'notFound' ? null : undefined,
      )
      assert.deepEqual(s().errors, [])
    },
  }
}

describe('dial machine (model-based)', () => {
  const testModel = createTestModel(model)
  const shortest = testModel.getShortestPaths()
  const simple = testModel.getSimplePaths()

  it('covers every model state and both outcomes of the retry guard', () => {
    const ends = new Set(shortest.flatMap((p) => p.steps.map((st) => String(st.state.value))))
    assert.deepEqual([...ends].sort(), ['connecting', 'done', 'failed', 'handshaking', 'idle', 'resolving'])
    const steps = simple.flatMap((p) =>
      p.steps.map((st, i) => [i ? p.steps[i - 1]!.state : undefined, st] as const),
    )
    const retried = steps.some(([prev, st]) => prev?.matches('connecting') && st.state.matches('resolving'))
    const gaveUp = steps.some(
      ([prev, st]) =>
        prev?.matches('connecting') && st.event.type.startsWith('connect.f') && st.state.matches('failed'),
    )
    assert.ok(retried && gaveUp)
  })

  for (const [kind, paths] of [
    ['shortest', shortest],
    ['simple', simple],
  ] as const) {
    describe(`${kind} paths (${paths.length})`, () => {
      for (const path of paths) {
        it(path.description, async () => {
          const sut: { current?: ReturnType<typeof createSut> } = {}
          await path.test({ events: executors(sut), states: stateChecks(sut) as never })
        })
      }
    })
  }
})

describe('dial machine details', () => {
  it('handshaking clears the connect error and hands the socket to the parent as dial.connected', async () => {
    const parentEvents: unknown[] = []
    const parent = createMachine({
      invoke: {
        id: 'dial:x',
        src: dialMachine.provide({
          actors: {
            connect: fromPromise<unknown, { node: Node }>(async () => CONN),
          },
        }),
        input: { task: TASKS['task.dynamic']! },
      },
      on: { 'dial.connected': { actions: ({ event }) => void parentEvents.push(event) } },
    })
    const actor = createActor(parent)
    actor.start()
    await flush()
    assert.equal(parentEvents.length, 1)
    const ev = parentEvents[0] as { type: string; id: string; node: Node; flag: string; conn: unknown }
    assert.equal(ev.type, 'dial.connected')
    assert.equal(ev.id, ID)
    assert.equal(ev.node, withAddr)
    assert.equal(ev.flag, 'dynamic')
    assert.equal(ev.conn, CONN)
    actor.stop()
  })

  it('a static connect failure that resolves to a new endpoint dials it once more, then fails with the error', async () => {
    const sut = createSut(TASKS['task.static']!)
    sut.pending.connect!.reject(new Error('ECONNREFUSED'))
    await flush()
    sut.pending.resolve!.resolve(found)
    await flush()
    assert.deepEqual(sut.calls.connect, [withAddr, found])
    sut.pending.connect!.reject(new Error('EHOSTUNREACH'))
    await flush()
    const out = sut.actor.getSnapshot().output as DialOutput
    assert.equal(out.error, 'EHOSTUNREACH')
    assert.equal(out.resolved, found)
    assert.equal(sut.calls.resolve.length, 1, 'at most one resolve per run')
  })

  it('stopping the dial in connecting cancels the timeout', () => {
    const sut = createSut(TASKS['task.dynamic']!)
    sut.actor.stop()
    sut.clock.increment(DIAL_TIMEOUT_MS * 2)
    assert.equal(sut.actor.getSnapshot().status, 'stopped')
    assert.deepEqual(sut.errors, [])
  })
})
