// The supervisor's machine cost in one process, without sockets or crypto: the real peer machine over a fake
// transport (its handshakes resolve at once; the remote closes right after the first bench/1 message), driven
// one connection at a time through three arms, interleaved per round:
//   bare   root peer actors answered by the accept-all checkpoint actor (actors/peer.ts), as startPeer runs them
//   floor  peers created with a minimal supervisor machine as their parent (machines/inbound-peers.ts): the same
//          three supervisor events per connection (the two checkpoints, the peer's done event), trivial
//          handlers — XState's own cost for our shape
//   server machines/server.machine.ts (checks, peer map, dial scheduler, tie-break) with its inbound peers
//          from machines/inbound-peers.ts, as createServer runs them
// floor − bare is what a supervised peer's three events cost in XState; server − floor is our
// handlers' bookkeeping (checks, peer map, dial scheduler, emitted events). bench/server.bench.ts measures the
// whole overhead across processes, where GC and caches make every figure larger.
import { Subject } from 'rxjs'
import { type AnyActorRef, assign, createActor, enqueueActions, setup } from 'xstate'
import { createCheckpointSupervisor } from '../actors/peer.ts'
import {
  BASE_PROTOCOL_LENGTH,
  BASE_PROTOCOL_VERSION,
  encodeHello,
  type Hello,
  P2P_MSG,
} from '../codecs/p2p.ts'
import { generatePrivateKey, publicKeyOf } from '../crypto/secp256k1.ts'
import { leanActorSystem } from '../machines/actor-system.ts'
import { InboundPeers } from '../machines/inbound-peers.ts'
import { peerMachine } from '../machines/peer.machine.ts'
import type { Msg, Protocol } from '../machines/protocol.ts'
import { serverMachine } from '../machines/server.machine.ts'
import { type Row, report } from './lib.ts'
import { BENCH_CAP, BENCH_MSG } from './procs/impl.ts'

const N = Number(process.env.BENCH_SUPERVISOR_N ?? 2000)
const ROUNDS = 8
const WARMUP_ROUNDS = 2
const SELF = 'aa'.repeat(32)
const CAPS = [{ name: BENCH_CAP.name, version: BENCH_CAP.version }]

// 64 remote identities, one connection at a time: no two live connections share one
const remotes = Array.from({ length: 64 }, () => {
  const id = publicKeyOf(generatePrivateKey())
  const hello = encodeHello({ version: BASE_PROTOCOL_VERSION, name: 'remote', caps: CAPS, listenPort: 0, id })
  return { id, hello }
})
const localHello: Hello = {
  version: BASE_PROTOCOL_VERSION,
  name: 'devp2p-actors-bench',
  caps: CAPS,
  listenPort: 0,
  id: publicKeyOf(generatePrivateKey()),
}
/** Listener side of bench/1: send the welcome, run until the messages end. */
const protocol: Protocol = {
  ...BENCH_CAP,
  run: (_peer, rw) =>
    new Promise<void>((resolve) => {
      rw.messages$.subscribe({ complete: () => resolve(), error: () => resolve() })
      rw.send(BENCH_MSG.data, Uint8Array.of(1)).catch(() => {})
    }),
}
const WELCOME = BASE_PROTOCOL_LENGTH + BENCH_MSG.data

/** A transport whose remote answers at once: handshake done, Hello back, and gone after our welcome. */
class FakeTransport {
  readonly messages$ = new Subject<Msg>()
  constructor(
    private readonly remote: (typeof remotes)[number],
    private readonly onClosed: () => void,
  ) {}
  encHandshake(): Promise<Uint8Array> {
    return Promise.resolve(this.remote.id)
  }
  send(code: number): Promise<void> {
    const hello = this.remote.hello
    if (code === P2P_MSG.hello)
      queueMicrotask(() =>
        this.messages$.next({ code: 0, size: hello.length, payload: hello, receivedAt: 0 }),
      )
    else if (code === WELCOME) queueMicrotask(() => this.messages$.complete())
    return Promise.resolve()
  }
  setSnappy(): void {}
  close(): void {
    queueMicrotask(this.onClosed)
  }
}

const peerInput = (transport: FakeTransport, supervisor?: AnyActorRef) => ({
  transport,
  inbound: true,
  localHello,
  protocols: [protocol],
  supervisor,
})

interface Arm {
  /** open one connection; resolves when its transport was closed */
  connect(i: number): Promise<void>
  stop(): void
}

function bareArm(): Arm {
  const supervisor = createCheckpointSupervisor()
  return {
    connect: (i) =>
      new Promise<void>((resolve) => {
        const t = new FakeTransport(remotes[i % remotes.length]!, resolve)
        createActor(peerMachine, { input: peerInput(t, supervisor) }).start()
      }),
    stop: () => supervisor.stop(),
  }
}

function floorArm(): Arm {
  type Ctx = { a: number; b: number; c: number }
  const machine = setup({
    types: { context: {} as Ctx, events: {} as { type: string; peer?: AnyActorRef } },
  }).createMachine({
    context: { a: 0, b: 0, c: 0 },
    on: {
      'checkpoint.postHandshake': {
        actions: enqueueActions(({ context, event, enqueue }) => {
          enqueue.assign({ a: context.a + 1 })
          enqueue.sendTo(event.peer!, { type: 'checkpoint.accepted' })
        }),
      },
      'checkpoint.addPeer': {
        actions: enqueueActions(({ context, event, enqueue }) => {
          enqueue.assign({ b: context.b + 1 })
          enqueue.sendTo(event.peer!, { type: 'checkpoint.accepted' })
        }),
      },
      'xstate.done.actor.*': { actions: assign({ c: ({ context }) => context.c + 1 }) },
    },
  })
  const actor = createActor(machine)
  leanActorSystem(actor)
  actor.subscribe({ error: () => {} })
  actor.start()
  let n = 0
  return {
    connect: (i) =>
      new Promise<void>((resolve) => {
        const t = new FakeTransport(remotes[i % remotes.length]!, resolve)
        // ids reused as InboundPeers does (one connection at a time here)
        createActor(peerMachine, { parent: actor, id: `peer:in:${n++ % 4}`, input: peerInput(t) }).start()
      }),
    stop: () => actor.stop(),
  }
}

function serverArm(): Arm {
  const actor = createActor(serverMachine.provide({ actors: { peer: peerMachine } }), {
    input: {
      self: SELF,
      maxPeers: 2000,
      protocols: CAPS,
      makePeerInput: (s) => peerInput(s.conn as FakeTransport, s.supervisor),
    },
  })
  leanActorSystem(actor)
  actor.subscribe({ error: () => {} })
  actor.start()
  actor.send({ type: 'start' })
  const inbound = new InboundPeers(actor)
  return {
    connect: (i) =>
      new Promise<void>((resolve) => {
        inbound.start(new FakeTransport(remotes[i % remotes.length]!, resolve))
      }),
    stop: () => actor.stop(),
  }
}

const arms = { bare: bareArm(), floor: floorArm(), server: serverArm() }
const names = Object.keys(arms) as (keyof typeof arms)[]
const total = { bare: 0, floor: 0, server: 0 }
// the server's startup actor runs in a microtask
await new Promise((r) => setTimeout(r, 10))
for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
  // order rotates per round, so no arm always follows the same one
  for (let j = 0; j < names.length; j++) {
    const name = names[(round + j) % names.length]!
    const arm = arms[name]
    const t0 = performance.now()
    for (let i = 0; i < N; i++) {
      await arm.connect(i)
      // let the ended peer's closing work run, as between two connections on a socket
      await new Promise<void>((r) => setImmediate(r))
    }
    if (round >= WARMUP_ROUNDS) total[name] += performance.now() - t0
  }
}
for (const a of Object.values(arms)) a.stop()

const perConn = (name: keyof typeof total) => (total[name] / (ROUNDS * N)) * 1000
const bare = perConn('bare')
const floor = perConn('floor')
const server = perConn('server')
const rows: Row[] = [
  { name: 'bare root peer actors, accept-all checkpoint actor', unit: 'µs/conn', ours: bare },
  {
    name: 'peers under a minimal supervisor machine (same 3 events, trivial handlers)',
    unit: 'µs/conn',
    ours: floor,
  },
  { name: 'peers under machines/server.machine.ts', unit: 'µs/conn', ours: server },
  { name: 'XState floor of a supervised peer (floor − bare)', unit: 'µs/conn', ours: floor - bare },
  { name: "the supervisor's handlers on top (server − floor)", unit: 'µs/conn', ours: server - floor },
]
report(
  `supervisor machine cost in one process (real peer machine over a fake transport, ${ROUNDS}×${N} connections per arm)`,
  rows,
)
