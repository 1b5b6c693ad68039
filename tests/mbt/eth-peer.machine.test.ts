// Model-based tests for machines/eth-peer.machine.ts (xstate/graph): an abstract model of geth's eth Status
// handshake (send ours and read theirs at once, one 5 s deadline, active only when both are done; any failed
// check, the deadline, a failed write or the stream's end drops the peer) is traversed; every shortest and every
// simple path runs against the real machine on a SimulatedClock. Plus checkStatus on each of geth's checks, in
// geth's order.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { assign, createActor, createMachine, fromCallback, SimulatedClock } from 'xstate'
import { createTestModel } from 'xstate/graph'
import { hexToBytes } from '../../codecs/bytes.ts'
import {
  ETH_HANDSHAKE_TIMEOUT_MS,
  ETH_MAX_MESSAGE_SIZE,
  type EthStatus68,
  type EthStatus69,
  encodeStatus,
} from '../../codecs/eth.ts'
import { computeForkId, newForkIdFilter } from '../../codecs/forkid.ts'
import { DiscReason } from '../../codecs/p2p.ts'
import { rlpEncode } from '../../codecs/rlp.ts'
import { checkStatus, EthError, ethPeerMachine } from '../../machines/eth-peer.machine.ts'
import { type Msg, protocolDiscReason } from '../../machines/protocol.ts'

// mainnet (tests/vectors/forkid.json), head in Prague
const FORKS = {
  genesisHash: hexToBytes('d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3'),
  blocks: [
    1150000, 1920000, 2463000, 2675000, 4370000, 7280000, 9069000, 9200000, 12244000, 12965000, 13773000,
    15050000,
  ],
  times: [1681338455, 1710338135, 1746612311, 1764798551, 1765290071, 1767747671],
}
const HEAD = { block: 22_000_000n, time: 1_750_000_000n }
const filter = newForkIdFilter(FORKS, () => HEAD)
const local: EthStatus68 = {
  version: 68,
  networkId: 1n,
  td: 0n,
  head: new Uint8Array(32).fill(1),
  genesis: FORKS.genesisHash,
  forkId: computeForkId(FORKS, HEAD.block, HEAD.time),
}
const msg = (payload: Uint8Array, code = 0): Msg => ({ code, size: payload.length, payload, receivedAt: 0 })
const statusMsg = (s: Partial<EthStatus68> = {}) => msg(encodeStatus(68, { ...local, ...s }))

describe('eth-peer checkStatus (geth readStatus68 / readStatus69 order)', () => {
  const fail = (
    m: Msg,
    code: string,
    reason: DiscReason = DiscReason.SubprotocolError,
    version: 68 | 69 = 68,
  ) => {
    const r = checkStatus(version, local, filter, m)
    assert.ok('error' in r, `expected ${code}`)
    assert.equal(r.error.ethCode, code)
    assert.equal(protocolDiscReason(r.error), reason)
    return r.error.message
  }
  it('accepts a matching Status', () => {
    const r = checkStatus(68, local, filter, statusMsg({ td: 5n, head: new Uint8Array(32).fill(9) }))
    assert.ok('status' in r)
  })
  it('refuses in order: code, size, decoding, network, version, genesis, fork id, block range', () => {
    // several faults at once: the first of geth's checks names the error
    const all = { networkId: 5n, version: 67, genesis: new Uint8Array(32).fill(2) }
    assert.match(
      fail({ ...statusMsg(all), code: 3 }, 'NO_STATUS_MSG'),
      /^no status message: first msg has code 3 \(!= 0\)$/,
    )
    assert.match(
      fail({ ...statusMsg(all), size: ETH_MAX_MESSAGE_SIZE + 1 }, 'MSG_TOO_LARGE'),
      /^message too long: /,
    )
    assert.match(
      fail(msg(rlpEncode([1, 2])), 'INVALID_MESSAGE', DiscReason.ProtocolError),
      /^invalid message: \(code 0\)/,
    )
    assert.match(fail(statusMsg(all), 'NETWORK_ID_MISMATCH'), /^network ID mismatch: 5 \(!= 1\)$/)
    assert.match(
      fail(statusMsg({ ...all, networkId: 1n }), 'PROTOCOL_VERSION_MISMATCH'),
      /^protocol version mismatch: 67 \(!= 68\)$/,
    )
    assert.match(fail(statusMsg({ genesis: all.genesis }), 'GENESIS_MISMATCH'), /^genesis mismatch: 0202/)
    // a fork id from before Shanghai that does not announce it: the remote is stale
    const stale = computeForkId(FORKS, 15_050_000n, 0n)
    assert.equal(
      fail(statusMsg({ forkId: { ...stale, next: 0n } }), 'FORKID_REJECTED'),
      'fork ID rejected: remote needs update',
    )
    const l69: EthStatus69 = {
      version: 69,
      networkId: 1n,
      genesis: FORKS.genesisHash,
      forkId: local.forkId,
      earliest: 10n,
      latest: 5n,
      latestHash: new Uint8Array(32).fill(3),
    }
    const r69 = checkStatus(69, l69, filter, msg(encodeStatus(69, { ...l69, earliest: 0n })))
    assert.ok('status' in r69)
    assert.equal(
      fail(msg(encodeStatus(69, l69)), 'INVALID_BLOCK_RANGE', DiscReason.SubprotocolError, 69),
      'invalid block range in status: earliest > latest',
    )
  })
})

// ---- the model ----

type Step =
  | 'status.ok'
  | 'status.badGenesis'
  | 'status.undecodable'
  | 'status.otherCode'
  | 'sent'
  | 'sendFailed'
  | 'timeout'
  | 'closed'
  | 'extraStatus'
type Outcome = 'none' | 'subprotocol' | 'protocol' | 'timeout' | 'sendFailed'

interface ModelContext {
  sent: boolean
  received: boolean
  outcome: Outcome
}

const drop = (outcome: Outcome): object => ({
  target: '#ethModel.dropped',
  actions: assign({ outcome: () => outcome }),
})

/** geth's Handshake + runEthPeer as a model, written down apart from the machine. */
const model = createMachine({
  types: {} as { context: ModelContext; events: { type: Step } },
  id: 'ethModel',
  context: { sent: false, received: false, outcome: 'none' },
  initial: 'handshaking',
  states: {
    handshaking: {
      always: { guard: ({ context }) => context.sent && context.received, target: 'active' },
      on: {
        'status.ok': { guard: ({ context }) => !context.received, actions: assign({ received: true }) },
        'status.badGenesis': { guard: ({ context }) => !context.received, ...drop('subprotocol') },
        'status.undecodable': { guard: ({ context }) => !context.received, ...drop('protocol') },
        'status.otherCode': { guard: ({ context }) => !context.received, ...drop('subprotocol') },
        sent: { guard: ({ context }) => !context.sent, actions: assign({ sent: true }) },
        sendFailed: { guard: ({ context }) => !context.sent, ...drop('sendFailed') },
        timeout: drop('timeout'),
        closed: drop('none'),
      },
    },
    active: {
      on: { extraStatus: drop('subprotocol'), closed: drop('none') },
    },
    dropped: { type: 'final' },
  },
})

function createSut() {
  const clock = new SimulatedClock()
  const reader: { sendBack?: (e: unknown) => void } = {}
  const actor = createActor(
    ethPeerMachine.provide({
      actors: {
        reader: fromCallback(({ sendBack }) => {
          reader.sendBack = sendBack as never
          return () => {}
        }),
      },
    }),
    { clock, input: { version: 68, local, forkFilter: filter } },
  )
  actor.start()
  return { actor, clock, reader }
}
type Sut = ReturnType<typeof createSut>

const executors = (sut: { current?: Sut }): Record<Step, () => void> => {
  const back = (e: unknown) => sut.current!.reader.sendBack!(e)
  const send = (e: Parameters<Sut['actor']['send']>[0]) => sut.current!.actor.send(e)
  return {
    'status.ok': () => back({ type: 'status.message', msg: statusMsg() }),
    'status.badGenesis': () =>
      back({ type: 'status.message', msg: statusMsg({ genesis: new Uint8Array(32).fill(7) }) }),
    'status.undecodable': () => back({ type: 'status.message', msg: msg(Uint8Array.of(0xc1)) }),
    'status.otherCode': () => back({ type: 'status.message', msg: { ...statusMsg(), code: 2 } }),
    sent: () => send({ type: 'status.sent' }),
    sendFailed: () => send({ type: 'status.sendFailed', error: new Error('EPIPE') }),
    timeout: () => sut.current!.clock.increment(ETH_HANDSHAKE_TIMEOUT_MS),
    closed: () => back({ type: 'rw.closed' }),
    extraStatus: () => back({ type: 'message.invalid', error: new EthError('EXTRA_STATUS_MSG') }),
  }
}

const REASON: Record<Outcome, DiscReason | undefined> = {
  none: undefined,
  subprotocol: DiscReason.SubprotocolError,
  protocol: DiscReason.ProtocolError,
  timeout: DiscReason.ReadTimeout,
  sendFailed: DiscReason.SubprotocolError,
}

describe('eth-peer machine (model-based)', () => {
  const testModel = createTestModel(model)
  const shortest = testModel.getShortestPaths()
  const simple = testModel.getSimplePaths()

  it('reaches every state and every outcome', () => {
    const states = new Set(simple.flatMap((p) => p.steps.map((st) => String(st.state.value))))
    assert.deepEqual([...states].sort(), ['active', 'dropped', 'handshaking'])
    const outcomes = new Set(simple.map((p) => p.state.context.outcome))
    assert.deepEqual([...outcomes].sort(), ['none', 'protocol', 'sendFailed', 'subprotocol', 'timeout'])
  })

  for (const [kind, paths] of [
    ['shortest', shortest],
    ['simple', simple],
  ] as const) {
    describe(`${kind} paths (${paths.length})`, () => {
      for (const path of paths) {
        it(path.description, async () => {
          const sut: { current?: Sut } = {}
          await path.test({
            events: executors(sut) as never,
            states: {
              handshaking: (s) => {
                sut.current ??= createSut()
                const real = sut.current.actor.getSnapshot()
                assert.equal(real.value, 'handshaking')
                assert.equal(real.context.sent, s.context.sent)
                assert.equal(real.context.remote !== undefined, s.context.received)
              },
              active: () => {
                const real = sut.current!.actor.getSnapshot()
                assert.equal(real.value, 'active')
                assert.ok(real.context.remote)
              },
              dropped: (s) => {
                const real = sut.current!.actor.getSnapshot()
                assert.equal(real.status, 'done')
                const err = real.output?.error
                const want = REASON[s.context.outcome as Outcome]
                assert.equal(err === undefined ? undefined : protocolDiscReason(err), want)
                sut.current!.actor.stop()
              },
            },
          })
        })
      }
    })
  }
})
