// Test harness for machines/server.machine.ts: a fake peer machine with the real peer machine's event
// contract (machines/peer.machine.ts: checkpoint.postHandshake / checkpoint.addPeer to the parent with
// `peer: self`, waits for checkpoint.accepted | rejected, peer.disconnect, output {reason,
// requestedByRemote}), fake dial effects, a controllable candidate source, and a SimulatedClock.
import {
  type AnyActorRef,
  assign,
  createActor,
  fromCallback,
  fromPromise,
  SimulatedClock,
  sendParent,
  setup,
} from 'xstate'
import { hexToBytes } from '../../codecs/bytes.ts'
import type { Node } from '../../codecs/node.ts'
import { type Capability, DiscReason } from '../../codecs/p2p.ts'
import { dialMachine } from '../../machines/dial.machine.ts'
import { InboundPeers } from '../../machines/inbound-peers.ts'
import type { PeerSpawnInput, ServerInput } from '../../machines/server.machine.ts'
import { serverMachine } from '../../machines/server.machine.ts'

/** A fake connection: who is on the other end and what they announce. */
export interface FakeConn {
  remoteId: string
  caps: Capability[]
  name: string
}

export const SELF = 'ee'.repeat(32)
export const idOf = (n: number) => n.toString(16).padStart(2, '0').repeat(32)
export const nodeOf = (n: number, withAddr = true): Node => ({
  id: hexToBytes(idOf(n)),
  pubkey: new Uint8Array(64).fill(n),
  ...(withAddr ? { ip: `127.0.0.${n}`, tcp: 30303 } : {}),
})
export const ETH68: Capability = { name: 'eth', version: 68 }
export const fakeConn = (n: number, caps: Capability[] = [ETH68]): FakeConn => ({
  remoteId: n === -1 ? SELF : idOf(n),
  caps,
  name: `fake/${n}`,
})

type FakePeerEvent =
  | { type: 'checkpoint.accepted' }
  | { type: 'checkpoint.rejected'; reason: number }
  | { type: 'peer.disconnect'; reason: number }
  | { type: 'fake.enc' }
  | { type: 'fake.hello' }
  | { type: 'fake.remoteDisconnect'; reason: number }
  | { type: 'fake.closed' }

/**
 * The fake peer: `auto` runs both handshakes at once; otherwise the test drives `fake.enc` / `fake.hello`.
 * States mirror machines/peer.machine.ts.
 */
export const fakePeerMachine = setup({
  types: {
    input: {} as PeerSpawnInput & { auto: boolean; slowClose?: boolean },
    context: {} as {
      conn: FakeConn
      inbound: boolean
      auto: boolean
      slowClose: boolean
      reason?: number
      requestedByRemote: boolean
    },
    events: {} as FakePeerEvent,
  },
  actions: {
    askPostHandshake: sendParent(({ context, self }) => ({
      type: 'checkpoint.postHandshake',
      peer: self as AnyActorRef,
      id: hexToBytes(context.conn.remoteId),
      pubkey: new Uint8Array(64),
      inbound: context.inbound,
      dialed: !context.inbound,
    })),
    askAddPeer: sendParent(({ context, self }) => ({
      type: 'checkpoint.addPeer',
      peer: self as AnyActorRef,
      id: hexToBytes(context.conn.remoteId),
      pubkey: new Uint8Array(64),
      inbound: context.inbound,
      dialed: !context.inbound,
      name: context.conn.name,
      caps: context.conn.caps,
      matched: 0,
    })),
  },
  guards: { isAuto: ({ context }) => context.auto, isSlowClose: ({ context }) => context.slowClose },
}).createMachine({
  id: 'peer',
  context: ({ input }) => ({
    conn: input.conn as FakeConn,
    inbound: input.inbound,
    auto: input.auto,
    slowClose: input.slowClose ?? false,
    requestedByRemote: false,
  }),
  initial: 'pendingHandshake',
  on: {
    'peer.disconnect': { target: '.dropped', actions: assign({ reason: ({ event }) => event.reason }) },
    'fake.closed': { target: '.dropped', actions: assign({ reason: DiscReason.NetworkError }) },
  },
  states: {
    pendingHandshake: {
      always: { guard: 'isAuto', target: 'encHandshakeChecks' },
      on: { 'fake.enc': 'encHandshakeChecks' },
    },
    encHandshakeChecks: {
      entry: 'askPostHandshake',
      on: {
        'checkpoint.accepted': 'protoHandshake',
        'checkpoint.rejected': {
          target: 'dropped',
          actions: assign({ reason: ({ event }) => event.reason }),
        },
      },
    },
    protoHandshake: {
      always: { guard: 'isAuto', target: 'protoHandshakeChecks' },
      on: { 'fake.hello': 'protoHandshakeChecks' },
    },
    protoHandshakeChecks: {
      entry: 'askAddPeer',
      on: {
        'checkpoint.accepted': 'running',
        'checkpoint.rejected': {
          target: 'dropped',
          actions: assign({ reason: ({ event }) => event.reason }),
        },
      },
    },
    running: {
      on: {
        // slowClose: a local disconnect waits for `fake.closed` (the Disconnect write), so `stopping` is visible
        'peer.disconnect': [
          {
            guard: 'isSlowClose',
            target: 'closing',
            actions: assign({ reason: ({ event }) => event.reason }),
          },
          { target: 'dropped', actions: assign({ reason: ({ event }) => event.reason }) },
        ],
        'fake.remoteDisconnect': {
          target: 'dropped',
          actions: assign({ reason: ({ event }) => event.reason, requestedByRemote: true }),
        },
      },
    },
    closing: {
      on: { 'peer.disconnect': {}, 'fake.closed': { target: 'dropped' } },
    },
    dropped: { type: 'final' },
  },
  output: ({ context }) => ({
    reason: context.reason ?? DiscReason.NetworkError,
    requestedByRemote: context.requestedByRemote,
  }),
})

interface Deferred<T> {
  input?: { node: Node }
  resolve(v: T): void
  reject(e: unknown): void
}

/** Fake effects with handles the test completes by hand. */
export function createHarness(
  input: Partial<ServerInput> & { maxPeers: number },
  opts: { autoPeers?: boolean; slowClose?: boolean; manualStartup?: boolean } = {},
) {
  const clock = new SimulatedClock()
  let startup: Deferred<void> | undefined
  const connects = new Map<string, Deferred<unknown>>()
  const resolves = new Map<string, Deferred<Node | null>>()
  const demands: number[] = []
  let sendCandidate: ((node: Node) => void) | undefined
  const emitted: { type: string; [k: string]: unknown }[] = []
  const idHex = (n: Node) => Buffer.from(n.id).toString('hex')

  const machine = serverMachine.provide({
    actors: {
      peer: fakePeerMachine,
      startup: fromPromise<void>(
        () =>
          new Promise<void>((resolve, reject) => {
            if (opts.manualStartup) startup = { resolve, reject }
            else resolve()
          }),
      ),
      candidates: fromCallback<{ type: 'candidates.demand'; count: number }, { demand: number }>(
        ({ input, receive, sendBack }) => {
          demands.push(input.demand)
          receive((e) => demands.push(e.count))
          sendCandidate = (node) => sendBack({ type: 'dial.candidate', node })
          return () => {
            sendCandidate = undefined
          }
        },
      ),
      dial: dialMachine.provide({
        actors: {
          connect: fromPromise<unknown, { node: Node }>(
            ({ input }) =>
              new Promise((resolve, reject) => connects.set(idHex(input.node), { input, resolve, reject })),
          ),
          resolve: fromPromise<Node | null, { node: Node }>(
            ({ input }) =>
              new Promise((resolve, reject) => resolves.set(idHex(input.node), { input, resolve, reject })),
          ),
        },
      }),
    },
  })
  const actor = createActor(machine, {
    clock,
    input: {
      self: SELF,
      protocols: [ETH68],
      now: () => clock.now(),
      makePeerInput: (s) => ({ ...s, auto: opts.autoPeers ?? true, slowClose: opts.slowClose ?? false }),
      ...input,
    },
  })
  const errors: unknown[] = []
  actor.subscribe({ error: (e) => errors.push(e) })
  for (const t of ['peer.added', 'peer.dropped', 'conn.rejected', 'conn.refused', 'dial.started'] as const)
    actor.on(t, (e) => emitted.push(e as never))
  const flush = () => new Promise<void>((r) => setImmediate(r))
  const inboundPeers = new InboundPeers(actor)
  /** the supervisor's children and the live inbound peers (machines/inbound-peers.ts), by actor id */
  const children = (): Record<string, AnyActorRef | undefined> => {
    const all = { ...(actor.getSnapshot().children as Record<string, AnyActorRef | undefined>) }
    for (const ref of inboundPeers.refs()) all[ref.id] = ref
    return all
  }
  return {
    actor,
    clock,
    connects,
    resolves,
    demands,
    emitted,
    errors,
    flush,
    children,
    ctx: () => actor.getSnapshot().context,
    candidate: (node: Node) => sendCandidate?.(node),
    /** complete the pending TCP connect to `id` with a fake connection to `conn` */
    async connect(id: string, conn: FakeConn | Error) {
      const d = connects.get(id)
      if (!d) throw new Error(`no pending connect to ${id}`)
      connects.delete(id)
      if (conn instanceof Error) d.reject(conn)
      else d.resolve(conn)
      await flush()
    },
    async resolve(id: string, node: Node | null) {
      const d = resolves.get(id)
      if (!d) throw new Error(`no pending resolve of ${id}`)
      resolves.delete(id)
      d.resolve(node)
      await flush()
    },
    async finishStartup(error?: Error) {
      if (!startup) throw new Error('startup not pending')
      if (error) startup.reject(error)
      else startup.resolve()
      startup = undefined
      await flush()
    },
    /** send an event to the peer child serving node id `id` (hex) */
    async toPeer(id: string, event: FakePeerEvent) {
      const p = actor.getSnapshot().context.peers.get(id)
      if (!p) throw new Error(`no peer ${id}`)
      children()[p.childId]!.send(event)
      await flush()
    },
    /** an accepted inbound connection (the accept loop's InboundPeers.start); false when refused */
    async inbound(conn: FakeConn): Promise<boolean> {
      const ref = inboundPeers.start(conn)
      await flush()
      return ref !== undefined
    },
    peerIds: () => [...actor.getSnapshot().context.peers.keys()].sort(),
  }
}
