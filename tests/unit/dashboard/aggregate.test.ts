// The dashboard aggregate (cli/dashboard/aggregate.ts) fed synthetic peer snapshots, PeerEvents, supervisor states and
// stats: per-state counts across nodes, per-node tables (in / out / handshaking), drops by DiscReason, lingering
// dropped peers, deltas and the log; plus a property: counts always equal a recount of the peers shown.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  type Aggregate,
  createAggregate,
  DROPPED_LINGER_MS,
  type PeerUpdate,
  reasonName,
} from '../../../cli/dashboard/aggregate.ts'
import { describeMachine, statePaths } from '../../../cli/dashboard/chart.ts'
import { DiscReason } from '../../../codecs/p2p.ts'
import { ethPeerMachine } from '../../../machines/eth-peer.machine.ts'
import { peerMachine } from '../../../machines/peer.machine.ts'
import { serverMachine } from '../../../machines/server.machine.ts'

const T0 = 1_000_000
const RUNNING = { running: 'waiting' }
const ID_A = 'aa'.repeat(32)
const ID_B = 'bb'.repeat(32)

const mkAgg = (nodes: number, extra: { logSize?: number } = {}): Aggregate =>
  createAggregate({
    nodes,
    peerChart: describeMachine(peerMachine),
    serverChart: describeMachine(serverMachine),
    now: T0,
    ...extra,
  })

const upd = (key: string, value: unknown, more: Partial<PeerUpdate> = {}): PeerUpdate => ({
  key,
  actor: more.actor ?? `peer:in:${key}`,
  value,
  status: 'active',
  inbound: true,
  ...more,
})

describe('dashboard aggregate', () => {
  it('follows one peer through every state of the peer machine, then forgets it after the linger', () => {
    const agg = mkAgg(2)
    const steps: [unknown, Partial<PeerUpdate>][] = [
      ['pendingHandshake', {}],
      ['encHandshakeChecks', { id: ID_A }],
      ['protoHandshake', { id: ID_A }],
      ['protoHandshakeChecks', { id: ID_A, name: 'geth/v1', caps: ['eth/68'] }],
    ]
    let t = T0
    for (const [value, more] of steps) {
      t += 10
      agg.peerUpdate(1, upd('x:1', value, more), t)
      const s = agg.full(t)
      assert.deepEqual(s.counts, { [value as string]: 1 })
      assert.equal(s.nodes[1]!.handshaking, 1)
      assert.equal(s.nodes[1]!.inbound, 0)
      assert.equal(s.nodes[0]!.handshaking, 0)
    }
    t += 10
    agg.peerUpdate(1, upd('x:1', RUNNING, { id: ID_A, name: 'geth/v1', caps: ['eth/68'] }), t)
    let s = agg.full(t)
    assert.deepEqual(s.counts, {
      running: 1,
      'running.waiting': 1,
    })
    assert.deepEqual([s.nodes[1]!.inbound, s.nodes[1]!.outbound, s.nodes[1]!.handshaking], [1, 0, 0])
    assert.deepEqual(s.peers, [
      {
        k: '1/x:1',
        node: 1,
        actor: 'peer:in:x:1',
        id: ID_A.slice(0, 16),
        inbound: true,
        state: 'running',
        sub: ['waiting'],
        name: 'geth/v1',
        caps: ['eth/68'],
        remote: '',
        since: t - T0,
      },
    ])
    t += 10
    const dropAt = t
    agg.peerUpdate(
      1,
      upd('x:1', 'dropped', { status: 'done', reason: DiscReason.TooManyPeers, requestedByRemote: true }),
      dropAt,
    )
    s = agg.full(t)
    assert.deepEqual(s.counts, { dropped: 1 })
    assert.deepEqual(s.drops, { TooManyPeers: 1 })
    assert.deepEqual([s.nodes[1]!.inbound, s.nodes[1]!.handshaking], [0, 0])
    assert.equal(s.peers[0]!.reason, 'TooManyPeers')
    assert.equal(s.peers[0]!.remoteReq, true)
    assert.match(s.log.at(-1)!.m, /^running → dropped \(TooManyPeers, by remote\)$/)
    agg.takeDelta(t)
    agg.prune(dropAt + DROPPED_LINGER_MS - 1)
    assert.equal(agg.full(t).peers.length, 1)
    agg.prune(dropAt + DROPPED_LINGER_MS)
    s = agg.full(t)
    assert.deepEqual(s.counts, {})
    assert.deepEqual(s.peers, [])
    assert.deepEqual(s.drops, { TooManyPeers: 1 }, 'drops are cumulative')
    const d = agg.takeDelta(t)!
    assert.deepEqual(d.gone, ['1/x:1'])
    // an actor first seen already dropped is shown and its drop counted; one stopped elsewhere is not shown
    agg.peerUpdate(1, upd('x:2', 'dropped', { status: 'done', reason: 8 }), t)
    agg.peerUpdate(1, upd('x:3', 'protoHandshake', { status: 'stopped' }), t)
    s = agg.full(t)
    assert.deepEqual(
      s.peers.map((p) => [p.k, p.state, p.reason]),
      [['1/x:2', 'dropped', 'Quitting']],
    )
    assert.deepEqual(s.drops, { TooManyPeers: 1, Quitting: 1 })
  })

  it('keeps per-node tables: direction, remote from PeerEvents, separate actors with a reused child id', () => {
    const agg = mkAgg(3)
    const t = T0 + 100
    agg.peerUpdate(0, upd('x:7', RUNNING, { id: ID_A, inbound: false, actor: `peer:${ID_A}` }), t)
    agg.peerUpdate(0, upd('x:8', RUNNING, { id: ID_B, inbound: true, actor: 'peer:in:0' }), t)
    agg.peerUpdate(2, upd('x:8', 'protoHandshake', { id: ID_A, inbound: true, actor: 'peer:in:0' }), t)
    agg.peerUpdate(2, upd('x:9', 'pendingHandshake', { inbound: true, actor: 'peer:in:0' }), t)
    agg.peerEvent(0, { type: 'add', peer: ID_A, local: '127.0.0.1:1', remote: '127.0.0.1:30303' }, t)
    agg.peerEvent(0, { type: 'msgsend', peer: ID_A, protocol: 'x', msg_code: 1, msg_size: 2 }, t)
    const s = agg.full(t)
    const n = s.nodes.map((r) => [r.inbound, r.outbound, r.handshaking])
    assert.deepEqual(n, [
      [1, 1, 0],
      [0, 0, 0],
      [0, 0, 2],
    ])
    const byKey = new Map(s.peers.map((p) => [p.k, p]))
    assert.equal(byKey.get('0/x:7')!.remote, '127.0.0.1:30303')
    assert.equal(byKey.get('0/x:8')!.remote, '')
    assert.equal(byKey.get('2/x:8')!.state, 'protoHandshake')
    assert.equal(byKey.get('2/x:9')!.id, '', 'no id before the ECIES handshake')
    assert.equal(s.counts.running, 2)
    assert.equal(s.counts.protoHandshake, 1)
    assert.equal(s.counts.pendingHandshake, 1)
    assert.deepEqual(s.totals, { added: 1, removed: 0, connections: 4 })
    assert.equal(s.log.filter((e) => e.c === 'add').length, 1)
  })

  it('counts drops by DiscReason name, and forgets peers stopped without reaching dropped', () => {
    const agg = mkAgg(1)
    const reasons = [DiscReason.Quitting, DiscReason.Quitting, DiscReason.UselessPeer, 0x42]
    reasons.forEach((r, i) => {
      agg.peerUpdate(0, upd(`x:${i}`, 'protoHandshake'), T0)
      agg.peerUpdate(0, upd(`x:${i}`, 'dropped', { status: 'done', reason: r }), T0)
    })
    agg.peerUpdate(0, upd('x:9', 'encHandshakeChecks'), T0)
    agg.peerUpdate(0, upd('x:9', 'encHandshakeChecks', { status: 'stopped' }), T0)
    const s = agg.full(T0)
    assert.deepEqual(s.drops, { Quitting: 2, UselessPeer: 1, '0x42': 1 })
    assert.deepEqual(s.counts, { dropped: 4 })
    assert.equal(s.nodes[0]!.handshaking, 0)
    assert.equal(reasonName(DiscReason.SubprotocolError), 'SubprotocolError')
  })

  it('tracks supervisor states and stats; a stopped supervisor takes its peers with it', () => {
    const agg = mkAgg(2)
    agg.nodeInfo(0, { id: ID_A, enode: 'enode://x@127.0.0.1:1', name: 'n0' })
    agg.serverState(0, 'starting', T0)
    agg.serverState(0, 'running', T0)
    agg.serverState(0, 'running', T0)
    agg.serverState(1, 'starting', T0)
    agg.nodeStats(0, { peers: 1, eth: 1, connections: 2, table: 3, txpool: 4 })
    agg.peerUpdate(0, upd('x:1', RUNNING), T0)
    let s = agg.full(T0)
    assert.deepEqual(s.serverCounts, { running: 1, starting: 1 })
    const n0 = s.nodes[0]!
    assert.deepEqual(
      [n0.id, n0.state, n0.peers, n0.eth, n0.connections, n0.table, n0.txpool],
      [ID_A.slice(0, 16), 'running', 1, 1, 2, 3, 4],
    )
    assert.equal(s.nodes[1]!.eth, 0)
    assert.deepEqual(
      s.log.filter((e) => e.c === 'srv').map((e) => e.m),
      ['supervisor idle → starting', 'supervisor starting → running', 'supervisor idle → starting'],
    )
    agg.serverState(0, 'stopping', T0)
    agg.serverState(0, 'stopped', T0)
    s = agg.full(T0)
    assert.deepEqual(s.serverCounts, { stopped: 1, starting: 1 })
    assert.deepEqual(s.peers, [])
    assert.deepEqual(s.counts, {})
    assert.equal(s.nodes[0]!.inbound, 0)
    // out-of-range nodes are ignored
    agg.serverState(5, 'running', T0)
    agg.peerUpdate(-1, upd('x:1', RUNNING), T0)
    assert.deepEqual(agg.full(T0).serverCounts, { stopped: 1, starting: 1 })
  })

  it('counts eth-peer actors per state; an ended one lingers in dropped; a stopped node takes its own', () => {
    const agg = createAggregate({
      nodes: 2,
      peerChart: describeMachine(peerMachine),
      serverChart: describeMachine(serverMachine),
      ethChart: describeMachine(ethPeerMachine),
      now: T0,
    })
    assert.deepEqual(
      agg.full(T0).chart.eth?.states.map((st) => st.key),
      ['handshaking', 'active', 'dropped'],
    )
    agg.ethUpdate(0, { key: 'e1', value: 'handshaking', status: 'active' }, T0)
    agg.ethUpdate(0, { key: 'e2', value: 'handshaking', status: 'active' }, T0)
    agg.ethUpdate(1, { key: 'e1', value: 'active', status: 'active' }, T0)
    assert.deepEqual(agg.full(T0).ethCounts, { handshaking: 2, active: 1 })
    agg.ethUpdate(0, { key: 'e1', value: 'active', status: 'active' }, T0)
    agg.ethUpdate(0, { key: 'e2', value: 'dropped', status: 'done' }, T0 + 10)
    assert.deepEqual(agg.full(T0).ethCounts, { active: 2, dropped: 1 })
    assert.deepEqual(agg.takeDelta(T0)?.ethCounts, { active: 2, dropped: 1 })
    // an ended actor's later snapshots change nothing; after the linger it is gone
    agg.ethUpdate(0, { key: 'e2', value: 'dropped', status: 'stopped' }, T0 + 20)
    agg.prune(T0 + 10 + DROPPED_LINGER_MS)
    assert.deepEqual(agg.full(T0).ethCounts, { active: 2 })
    agg.serverState(1, 'stopped', T0)
    assert.deepEqual(agg.full(T0).ethCounts, { active: 1 })
  })

  it('deltas carry only what changed since the last take, and new log entries once', () => {
    const agg = mkAgg(3, { logSize: 5 })
    assert.equal(agg.takeDelta(T0), undefined)
    agg.peerUpdate(1, upd('x:1', 'pendingHandshake'), T0)
    let d = agg.takeDelta(T0 + 5)!
    assert.equal(d.t, 5)
    assert.deepEqual(
      d.nodes.map((n) => n.node),
      [1],
    )
    assert.deepEqual(
      d.peers.map((p) => p.k),
      ['1/x:1'],
    )
    assert.equal(d.log.length, 1)
    assert.equal(agg.takeDelta(T0), undefined)
    agg.nodeStats(2, { peers: 0, connections: 0, table: 0 })
    assert.equal(agg.takeDelta(T0), undefined, 'unchanged stats are no change')
    agg.nodeStats(2, { peers: 0, connections: 0, table: 7 })
    d = agg.takeDelta(T0)!
    assert.deepEqual(
      d.nodes.map((n) => [n.node, n.table]),
      [[2, 7]],
    )
    assert.deepEqual(d.peers, [])
    assert.deepEqual(d.log, [])
    for (let i = 0; i < 8; i++) agg.peerEvent(0, { type: 'drop', peer: ID_B, error: `e${i}` }, T0)
    d = agg.takeDelta(T0)!
    assert.deepEqual(
      d.log.map((e) => e.m),
      ['peer removed: e3', 'peer removed: e4', 'peer removed: e5', 'peer removed: e6', 'peer removed: e7'],
    )
    assert.equal(agg.full(T0).log.length, 5)
  })

  it('property: counts and node counters always equal a recount of the peers shown', () => {
    const values: unknown[] = [
      'pendingHandshake',
      'encHandshakeChecks',
      'protoHandshake',
      'protoHandshakeChecks',
      RUNNING,
      'dropped',
    ]
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('peer' as const),
        node: fc.integer({ min: 0, max: 2 }),
        key: fc.integer({ min: 0, max: 5 }),
        value: fc.integer({ min: 0, max: 5 }),
        status: fc.constantFrom('active', 'active', 'active', 'done', 'stopped'),
        inbound: fc.boolean(),
        reason: fc.constantFrom(undefined, 0, 4, 8),
      }),
      fc.record({
        kind: fc.constant('prune' as const),
        dt: fc.integer({ min: 0, max: 2 * DROPPED_LINGER_MS }),
      }),
      fc.record({
        kind: fc.constant('server' as const),
        node: fc.integer({ min: 0, max: 2 }),
        state: fc.constantFrom('running', 'stopped'),
      }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const agg = mkAgg(3)
        let t = T0
        for (const o of ops) {
          t += 100
          if (o.kind === 'prune') agg.prune(t + o.dt)
          else if (o.kind === 'server') agg.serverState(o.node, o.state, t)
          else {
            const value = o.status === 'done' ? 'dropped' : values[o.value]
            agg.peerUpdate(
              o.node,
              upd(`x:${o.key}`, value, {
                status: value === 'dropped' ? 'done' : o.status,
                inbound: o.inbound,
                ...(o.reason === undefined ? {} : { reason: o.reason }),
              }),
              t,
            )
          }
          const s = agg.full(t)
          const recount: Record<string, number> = {}
          for (const p of s.peers) {
            const value = p.state === 'running' ? RUNNING : p.state
            for (const path of statePaths(value)) recount[path] = (recount[path] ?? 0) + 1
          }
          assert.deepEqual(s.counts, recount)
          for (const n of s.nodes) {
            const mine = s.peers.filter((p) => p.node === n.node)
            assert.equal(n.inbound, mine.filter((p) => p.state === 'running' && p.inbound).length)
            assert.equal(n.outbound, mine.filter((p) => p.state === 'running' && !p.inbound).length)
            assert.equal(
              n.handshaking,
              mine.filter((p) => p.state !== 'running' && p.state !== 'dropped').length,
            )
          }
          assert.equal(
            Object.values(s.serverCounts).reduce((a, b) => a + b, 0),
            3,
          )
        }
      }),
      { numRuns: 300 },
    )
  })
})
