// `fromTask`: XState promise actor logic without an AbortController per actor (DESIGN.md §3a "effects as
// actors"). It behaves as xstate's fromPromise — the same snapshot (status active → done | error | stopped, output,
// error), so a parent's invoke `onDone` / `onError` and `xstate.done.actor.<id>` work unchanged, and it can be
// swapped with fromPromise in tests — but a task registers its cancellation with `onStop(fn)` instead of reading
// `signal`. Why: Node's AbortController is costly to create, and creating one per short-lived actor makes V8's
// young-generation GC promote the signals and everything reachable from them (measured: scavenges of 4–6 ms
// instead of 0.5 ms, ~3 MB promoted each). A dial's connect and a lookup's queries run as tasks. `signal` is still
// offered, created only when read — as a getter on a class (`Params`), not an object literal: a literal with a
// getter gets a fresh hidden class per evaluation, and that map (old space until the next full GC) holds the
// getter's closure context — here `self` — so every task actor and its parent survived every scavenge and were
// promoted (measured in one process: ~7 kB per task actor and its parent; with the class ~1.5 kB, what XState
// itself keeps of an invoked child).
import type { ActorSystem, PromiseActorLogic, PromiseSnapshot } from 'xstate'

// biome-ignore lint/suspicious/noExplicitAny: xstate's own AnyActorSystem (not exported from the package root)
type AnyActorSystem = ActorSystem<any>

const RESOLVE = 'devp2p.task.resolve'
const REJECT = 'devp2p.task.reject'
/** xstate's stop event (XSTATE_STOP), delivered to the logic's transition when the actor is stopped */
const STOP = 'xstate.stop'

export interface TaskParams<TInput> {
  input: TInput
  system: AnyActorSystem
  self: { send(event: { type: string; data?: unknown }): void; getSnapshot(): { status: string } }
  /** run `fn` if the actor is stopped before the task settled (the task is abandoned) */
  onStop(fn: () => void): void
  /** an AbortSignal aborted on the same occasion; created on first read */
  readonly signal: AbortSignal
}

/** per-actor cancellation, kept on the actor under this key (no WeakMap: one entry per short-lived actor) */
const kStops = Symbol('devp2p.task.stops')
type Stops = { fns: (() => void)[]; controller?: AbortController }
type WithStops = { [kStops]?: Stops }

function stopsOf(self: object): Stops {
  const s = self as WithStops
  let stops = s[kStops]
  if (!stops) {
    stops = { fns: [] }
    s[kStops] = stops
  }
  return stops
}

/** A task's parameters; `onStop` works unbound (creators destructure it). */
class Params<TInput> implements TaskParams<TInput> {
  constructor(
    readonly input: TInput,
    readonly system: AnyActorSystem,
    readonly self: TaskParams<TInput>['self'],
  ) {}
  readonly onStop = (fn: () => void): void => {
    stopsOf(this.self).fns.push(fn)
  }
  get signal(): AbortSignal {
    const stops = stopsOf(this.self)
    stops.controller ??= new AbortController()
    return stops.controller.signal
  }
}

/** Promise actor logic whose creator gets `onStop` (and a lazily created `signal`) instead of an eager signal. */
export function fromTask<TOutput, TInput = unknown>(
  run: (params: TaskParams<TInput>) => PromiseLike<TOutput> | TOutput,
): PromiseActorLogic<TOutput, TInput> {
  const logic = {
    config: run,
    transition(
      state: PromiseSnapshot<TOutput, TInput>,
      event: { type: string; data?: unknown },
      scope: { self: object },
    ) {
      if (state.status !== 'active') return state
      switch (event.type) {
        case RESOLVE:
          return { ...state, status: 'done', output: event.data as TOutput, input: undefined }
        case REJECT:
          return { ...state, status: 'error', error: event.data, input: undefined }
        case STOP: {
          const stops = (scope.self as WithStops)[kStops]
          if (stops) {
            ;(scope.self as WithStops)[kStops] = undefined
            stops.controller?.abort()
            for (const fn of stops.fns) fn()
          }
          return { ...state, status: 'stopped', input: undefined }
        }
        default:
          return state
      }
    },
    start(
      state: PromiseSnapshot<TOutput, TInput>,
      scope: { self: TaskParams<TInput>['self']; system: AnyActorSystem },
    ) {
      if (state.status !== 'active') return
      const { self, system } = scope
      const params = new Params<TInput>(state.input as TInput, system, self)
      let result: PromiseLike<TOutput> | TOutput
      try {
        result = run(params)
      } catch (e) {
        result = Promise.reject(e)
      }
      Promise.resolve(result).then(
        (data) => {
          if (self.getSnapshot().status !== 'active') return
          ;(self as WithStops)[kStops] = undefined
          self.send({ type: RESOLVE, data })
        },
        (data: unknown) => {
          if (self.getSnapshot().status !== 'active') return
          ;(self as WithStops)[kStops] = undefined
          self.send({ type: REJECT, data })
        },
      )
    },
    getInitialSnapshot: (_: unknown, input: TInput): PromiseSnapshot<TOutput, TInput> => ({
      status: 'active',
      output: undefined,
      error: undefined,
      input,
    }),
    getPersistedSnapshot: (s: PromiseSnapshot<TOutput, TInput>) => s,
    restoreSnapshot: (s: unknown) => s as PromiseSnapshot<TOutput, TInput>,
  }
  return logic as unknown as PromiseActorLogic<TOutput, TInput>
}
