// XState inspection events → dashboard PeerUpdates (cli/dashboard/inspect.ts): only peer machine snapshots count,
// keyed by sessionId, with the remote id, Hello name and caps, and the drop reason from the output.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { InspectionEvent } from 'xstate'
import { ethUpdateOf, peerUpdateOf } from '../../../cli/dashboard/inspect.ts'
import { DiscReason } from '../../../codecs/p2p.ts'

const snap = (id: string, snapshot: Record<string, unknown>, type = '@xstate.snapshot'): InspectionEvent =>
  ({
    type,
    actorRef: { id, sessionId: 'x:42' },
    rootId: 'x:0',
    event: { type: 'checkpoint.accepted' },
    snapshot,
  }) as unknown as InspectionEvent

describe('dashboard inspection adapter', () => {
  it('reads an inbound peer before and after its handshakes', () => {
    assert.deepEqual(
      peerUpdateOf(
        snap('peer:in:3', { value: 'pendingHandshake', status: 'active', context: { inbound: true } }),
      ),
      { key: 'x:42', actor: 'peer:in:3', value: 'pendingHandshake', status: 'active', inbound: true },
    )
    const remoteId = new Uint8Array(32).fill(0xab)
    const value = { running: 'waiting' }
    const hello = {
      name: 'Geth/v1.14',
      caps: [
        { name: 'eth', version: 68 },
        { name: 'snap', version: 1 },
      ],
    }
    assert.deepEqual(
      peerUpdateOf(
        snap('peer:in:3', { value, status: 'active', context: { inbound: true, remoteId, hello } }),
      ),
      {
        key: 'x:42',
        actor: 'peer:in:3',
        value,
        status: 'active',
        inbound: true,
        id: 'ab'.repeat(32),
        name: 'Geth/v1.14',
        caps: ['eth/68', 'snap/1'],
      },
    )
  })

  it('takes the drop reason from the output (else the context)', () => {
    const u = peerUpdateOf(
      snap('peer:0a0b#1', {
        value: 'dropped',
        status: 'done',
        context: { inbound: false, reason: DiscReason.Quitting, requestedByRemote: false },
        output: { reason: DiscReason.TooManyPeers, requestedByRemote: true },
      }),
    )!
    assert.deepEqual([u.reason, u.requestedByRemote, u.status], [DiscReason.TooManyPeers, true, 'done'])
    const v = peerUpdateOf(
      snap('peer:0a0b', {
        value: 'dropped',
        status: 'active',
        context: { inbound: false, reason: DiscReason.ReadTimeout, requestedByRemote: false },
      }),
    )!
    assert.deepEqual([v.reason, v.requestedByRemote], [DiscReason.ReadTimeout, false])
  })

  it('ignores every other actor and event type', () => {
    const s = { value: 'running', status: 'active', context: {} }
    assert.equal(peerUpdateOf(snap('x:0', s)), undefined, 'the supervisor')
    assert.equal(peerUpdateOf(snap('dial:0a0b', s)), undefined)
    assert.equal(peerUpdateOf(snap('proto:eth', s)), undefined)
    assert.equal(peerUpdateOf(snap('encHandshake', { status: 'active', output: undefined })), undefined)
    assert.equal(peerUpdateOf(snap('peer:in:0', s, '@xstate.event')), undefined)
    assert.equal(peerUpdateOf(snap('peer:in:0', { status: 'active' })), undefined, 'not a machine snapshot')
  })
})

describe('dashboard inspection adapter: eth-peer machines', () => {
  const ethSnap = (logicId: string, snapshot: Record<string, unknown>) =>
    ({
      type: '@xstate.snapshot',
      actorRef: { id: 'x:7', sessionId: 'x:7', logic: { id: logicId } },
      rootId: 'x:7',
      event: { type: 'status.sent' },
      snapshot,
    }) as unknown as InspectionEvent

  it('reads the snapshots of eth-peer machines only', () => {
    assert.deepEqual(ethUpdateOf(ethSnap('ethPeer', { value: 'active', status: 'active' })), {
      key: 'x:7',
      value: 'active',
      status: 'active',
    })
    assert.equal(ethUpdateOf(ethSnap('peer', { value: 'running', status: 'active' })), undefined)
    // the reader child has no state value
    assert.equal(ethUpdateOf(ethSnap('ethPeer', { status: 'active' })), undefined)
  })
})
