// One dial task (geth p2p/dial.go dialTask.run) as a machine: `start → resolving? → connecting →
// handshaking → done | failed` (DESIGN.md §3). Pure: resolving and TCP connecting are provided actors,
// the 15 s dial timeout is a named delay, and the connected socket is handed to the supervisor, which
// runs the peer machine and reports back how the handshakes ended.
//
// Spawned by the supervisor as `dial:<n>` with systemId `dial:<nodeIdHex>`, input `{ task }` (a DialTask from
// machines/dial-scheduler.ts). Root output `DialOutput` = `{ node, flag, error?, resolved? }`.
//
// | event / actor                  | direction            | payload                           | meaning                    |
// |--------------------------------|----------------------|-----------------------------------|----------------------------|
// | actor `resolve`                | provided (effect)    | input {node} → Node or null       | discovery lookup of the id |
// | actor `connect`                | provided (effect)    | input {node} → conn (opaque)      | TCP connect to ip:tcp      |
// | after `dialTimeout` (15 s)     | in `connecting`      | —                                 | geth defaultDialTimeout    |
// | `dial.connected`               | to parent (handOver) | {id, node, flag, conn}            | socket handed over         |
// | `dial.handshake.done`          | from parent          | —                                 | peer passed addPeer        |
// | `dial.handshake.failed`        | from parent          | {error: string}                   | peer ended before that     |
//
// geth behaviour kept: a static node without an address is resolved first (only when the scheduler's
// backoff allows: task.mayResolve), and ends without dialing when that finds nothing; a static dial whose
// TCP connect fails is resolved once more and, when found, dialled once more; dynamic tasks never resolve.
import { assign, fromPromise, sendParent, setup } from 'xstate'
import type { Node } from '../codecs/node.ts'
import type { DialFlag, DialTask } from './dial-scheduler.ts'

/** geth p2p/server.go defaultDialTimeout. */
export const DIAL_TIMEOUT_MS = 15_000

export interface DialInput {
  task: DialTask
}

export interface DialOutput {
  node: Node
  flag: DialFlag
  /** absent when the peer passed the add-peer checkpoint */
  error?: string
  /** result of the last resolve in this run (undefined: none attempted); feeds dialDone's backoff */
  resolved?: Node | null
}

export interface DialContext {
  id: string
  node: Node
  flag: DialFlag
  mayResolve: boolean
  resolvedThisRun: boolean
  resolved?: Node | null
  error?: string
  /** the connected socket (opaque here), between connecting and the hand-over */
  conn?: unknown
}

export type DialEvent = { type: 'dial.handshake.done' } | { type: 'dial.handshake.failed'; error: string }

/** What the dial machine sends its parent when the TCP connection is up. */
export interface DialConnectedEvent {
  type: 'dial.connected'
  id: string
  node: Node
  flag: DialFlag
  conn: unknown
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export const dialMachine = setup({
  types: {
    context: {} as DialContext,
    events: {} as DialEvent,
    input: {} as DialInput,
    output: {} as DialOutput,
  },
  actors: {
    resolve: fromPromise<Node | null, { node: Node }>(async () => null),
    connect: fromPromise<unknown, { node: Node }>(async () => {
      throw new Error('connect actor not provided')
    }),
  },
  guards: {
    hasAddress: ({ context }) => !!context.node.ip && !!context.node.tcp,
    mayResolveFirst: ({ context }) => !context.node.ip && context.mayResolve,
    mayResolveAfterFailure: ({ context }) =>
      context.flag === 'static' && context.mayResolve && !context.resolvedThisRun,
    isFound: (_, found: Node | null) => found !== null,
  },
  actions: {
    handOver: sendParent(
      ({ context }): DialConnectedEvent => ({
        type: 'dial.connected',
        id: context.id,
        node: context.node,
        flag: context.flag,
        conn: context.conn,
      }),
    ),
  },
  delays: {
    dialTimeout: DIAL_TIMEOUT_MS,
  },
}).createMachine({
  id: 'dial',
  context: ({ input }) => ({
    id: input.task.id,
    node: input.task.node,
    flag: input.task.flag,
    mayResolve: input.task.mayResolve,
    resolvedThisRun: false,
  }),
  initial: 'start',
  states: {
    start: {
      always: [
        { guard: 'hasAddress', target: 'connecting' },
        { guard: 'mayResolveFirst', target: 'resolving' },
        {
          target: 'failed',
          actions: assign({
            error: ({ context }) =>
              context.node.ip ? 'node does not provide TCP port' : 'no endpoint to dial',
          }),
        },
      ],
    },
    resolving: {
      invoke: {
        id: 'resolve',
        src: 'resolve',
        input: ({ context }) => ({ node: context.node }),
        onDone: [
          {
            guard: { type: 'isFound', params: ({ event }) => event.output },
            target: 'connecting',
            actions: assign({
              node: ({ event }) => event.output!,
              resolved: ({ event }) => event.output,
              resolvedThisRun: true,
            }),
          },
          {
            target: 'failed',
            actions: assign({
              resolved: null,
              resolvedThisRun: true,
              error: ({ context }) => context.error ?? 'resolve failed',
            }),
          },
        ],
        onError: {
          target: 'failed',
          actions: assign({ error: ({ event }) => `resolve: ${errorText(event.error)}` }),
        },
      },
    },
    connecting: {
      invoke: {
        id: 'connect',
        src: 'connect',
        input: ({ context }) => ({ node: context.node }),
        onDone: {
          target: 'handshaking',
          actions: [assign({ conn: ({ event }) => event.output }), 'handOver'],
        },
        onError: [
          {
            guard: 'mayResolveAfterFailure',
            target: 'resolving',
            actions: assign({ error: ({ event }) => errorText(event.error) }),
          },
          { target: 'failed', actions: assign({ error: ({ event }) => errorText(event.error) }) },
        ],
      },
      after: {
        dialTimeout: [
          {
            guard: 'mayResolveAfterFailure',
            target: 'resolving',
            actions: assign({ error: 'dial timeout' }),
          },
          { target: 'failed', actions: assign({ error: 'dial timeout' }) },
        ],
      },
    },
    handshaking: {
      entry: assign({ error: undefined, conn: undefined }),
      on: {
        'dial.handshake.done': { target: 'done' },
        'dial.handshake.failed': { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) => ({
    node: context.node,
    flag: context.flag,
    ...(context.error !== undefined ? { error: context.error } : {}),
    ...(context.resolved !== undefined ? { resolved: context.resolved } : {}),
  }),
})
