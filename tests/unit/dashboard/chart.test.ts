// The statechart description the dashboard draws (cli/dashboard/chart.ts), read from the real peer and server
// machines: states in order with types and regions, transitions with readable labels, active state paths.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeMachine, edgeLabel, statePaths } from '../../../cli/dashboard/chart.ts'
import { peerMachine } from '../../../machines/peer.machine.ts'
import { serverMachine } from '../../../machines/server.machine.ts'

describe('dashboard chart', () => {
  it('describes the peer machine: the six states, the ping loop in running, the transitions', () => {
    const c = describeMachine(peerMachine)
    assert.equal(c.id, 'peer')
    assert.deepEqual(
      c.states.map((s) => [s.key, s.type]),
      [
        ['pendingHandshake', 'atomic'],
        ['encHandshakeChecks', 'atomic'],
        ['protoHandshake', 'atomic'],
        ['protoHandshakeChecks', 'atomic'],
        ['running', 'compound'],
        ['dropped', 'final'],
      ],
    )
    const running = c.states[4]!
    assert.deepEqual(
      running.states.map((r) => [r.path, r.states.map((l) => l.path)]),
      [['running.waiting', []]],
    )
    const has = (from: string, to: string, label: string) =>
      assert.ok(
        c.edges.some((e) => e.from === from && e.to === to && e.label === label),
        `${from} → ${to} (${label})`,
      )
    has('', 'dropped', 'peer.disconnect')
    has('', 'dropped', 'tcp.closed')
    has('pendingHandshake', 'encHandshakeChecks', 'handshake.done')
    has('pendingHandshake', 'dropped', 'handshake.failed')
    has('pendingHandshake', 'dropped', 'after handshakeTimeout')
    has('encHandshakeChecks', 'protoHandshake', 'checkpoint.accepted')
    has('protoHandshake', 'protoHandshakeChecks', 'hello.received')
    has('protoHandshake', 'dropped', 'hello.failed')
    has('protoHandshakeChecks', 'running', 'checkpoint.accepted')
    has('running', 'dropped', 'disconnect.received')
    has('running.waiting', 'running.waiting', 'after pingInterval')
    has('running', 'dropped', 'protocol.failed')
    const keys = c.edges.map((e) => `${e.from}>${e.to}>${e.label}`)
    assert.equal(new Set(keys).size, keys.length, 'no duplicate edges (guarded alternatives collapse)')
  })

  it('describes the server machine: idle → starting → running → stopping → stopped', () => {
    const c = describeMachine(serverMachine)
    assert.deepEqual(
      c.states.map((s) => s.key),
      ['idle', 'starting', 'running', 'stopping', 'stopped'],
    )
    assert.equal(c.states.at(-1)!.type, 'final')
    assert.ok(c.edges.some((e) => e.from === 'running' && e.to === 'stopping' && e.label === 'stop'))
    assert.ok(c.edges.some((e) => e.from === 'stopping' && e.to === 'stopped' && e.label === 'always'))
    assert.ok(
      c.edges.every((e) => e.to !== ''),
      'targetless transitions are not edges',
    )
  })

  it('labels events and lists active state paths', () => {
    assert.equal(edgeLabel('xstate.done.actor.encHandshake'), 'encHandshake done')
    assert.equal(edgeLabel('xstate.error.actor.protoHandshake'), 'protoHandshake error')
    assert.equal(edgeLabel('xstate.after.helloTimeout.peer.protoHandshake'), 'after helloTimeout')
    assert.equal(edgeLabel('checkpoint.rejected'), 'checkpoint.rejected')
    assert.deepEqual(statePaths('dropped'), ['dropped'])
    assert.deepEqual(statePaths({ running: { ping: 'waiting', protocols: 'active' } }), [
      'running',
      'running.ping',
      'running.ping.waiting',
      'running.protocols',
      'running.protocols.active',
    ])
    assert.deepEqual(statePaths(undefined), [])
  })
})
