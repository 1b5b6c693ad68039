// Table tests for machines/checkpoints.ts: geth postHandshakeChecks / addPeerChecks order and reasons,
// MaxDialedConns / MaxInboundConns and countMatchingProtocols.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  addPeerChecks,
  maxDialedConns,
  maxInboundConns,
  type PeerLimits,
  postHandshakeChecks,
} from '../../../machines/checkpoints.ts'

const TooManyPeers = 0x04
const AlreadyConnected = 0x05
const UselessPeer = 0x03
const Self = 0x0a

const limits: PeerLimits = { self: 'aa', maxPeers: 3, maxInbound: 2 }
const view = (peers: string[], inbound: number) => ({ peers: new Set(peers), inboundCount: inbound })

describe('postHandshakeChecks (geth order)', () => {
  const table: [
    string,
    string[],
    number,
    { id: string; inbound: boolean; trusted: boolean },
    number | null,
  ][] = [
    ['room left, outbound', ['b1'], 0, { id: 'c1', inbound: false, trusted: false }, null],
    ['room left, inbound', ['b1'], 1, { id: 'c1', inbound: true, trusted: false }, null],
    ['full', ['b1', 'b2', 'b3'], 0, { id: 'c1', inbound: false, trusted: false }, TooManyPeers],
    [
      'full beats already connected',
      ['b1', 'b2', 'c1'],
      0,
      { id: 'c1', inbound: false, trusted: false },
      TooManyPeers,
    ],
    ['full beats self', ['b1', 'b2', 'b3'], 0, { id: 'aa', inbound: false, trusted: false }, TooManyPeers],
    ['inbound share used up', ['b1', 'b2'], 2, { id: 'c1', inbound: true, trusted: false }, TooManyPeers],
    [
      'inbound share used up, outbound passes',
      ['b1', 'b2'],
      2,
      { id: 'c1', inbound: false, trusted: false },
      null,
    ],
    ['trusted passes a full server', ['b1', 'b2', 'b3'], 2, { id: 'c1', inbound: true, trusted: true }, null],
    [
      'trusted still AlreadyConnected',
      ['b1', 'b2', 'c1'],
      2,
      { id: 'c1', inbound: true, trusted: true },
      AlreadyConnected,
    ],
    ['already connected', ['c1'], 0, { id: 'c1', inbound: false, trusted: false }, AlreadyConnected],
    ['self', [], 0, { id: 'aa', inbound: false, trusted: false }, Self],
    ['trusted self', ['b1', 'b2', 'b3'], 0, { id: 'aa', inbound: true, trusted: true }, Self],
  ]
  for (const [name, peers, inbound, conn, want] of table) {
    it(name, () => assert.equal(postHandshakeChecks(limits, view(peers, inbound), conn), want))
  }
})

describe('addPeerChecks', () => {
  const eth68 = { name: 'eth', version: 68 }
  const protocols = [eth68, { name: 'snap', version: 1 }]
  const table: [string, typeof protocols, { name: string; version: number }[], string[], number | null][] = [
    ['shared protocol', protocols, [eth68], [], null],
    ['no shared protocol', protocols, [{ name: 'eth', version: 67 }], [], UselessPeer],
    ['no caps at all', protocols, [], [], UselessPeer],
    ['we run no protocols: anything goes', [], [], [], null],
    ['useless before full', protocols, [{ name: 'les', version: 4 }], ['b1', 'b2', 'b3'], UselessPeer],
    ['shared, then post-handshake checks again', protocols, [eth68], ['b1', 'b2', 'b3'], TooManyPeers],
    ['shared, then already connected', protocols, [eth68], ['c1'], AlreadyConnected],
  ]
  for (const [name, ours, caps, peers, want] of table) {
    it(name, () =>
      assert.equal(
        addPeerChecks(limits, ours, view(peers, 0), { id: 'c1', inbound: false, trusted: false, caps }),
        want,
      ),
    )
  }
})

describe('limits', () => {
  const table: [
    maxPeers: number,
    dialRatio: number | undefined,
    noDial: boolean,
    dialed: number,
    inbound: number,
  ][] = [
    [50, undefined, false, 16, 34],
    [50, 3, false, 16, 34],
    [50, 2, false, 25, 25],
    [2, 3, false, 1, 1],
    [1, 3, false, 1, 0],
    [0, 3, false, 0, 0],
    [50, 0, false, 16, 34],
    [50, 3, true, 0, 50],
  ]
  for (const [maxPeers, dialRatio, noDial, dialed, inbound] of table) {
    it(`maxPeers ${maxPeers}, ratio ${dialRatio}, noDial ${noDial} → dialed ${dialed}, inbound ${inbound}`, () => {
      assert.equal(maxDialedConns({ maxPeers, dialRatio, noDial }), dialed)
      assert.equal(maxInboundConns({ maxPeers, dialRatio, noDial }), inbound)
    })
  }
  it('protocols match on exact name and version (geth countMatchingProtocols)', () => {
    const ours = [
      { name: 'eth', version: 68 },
      { name: 'eth', version: 69 },
    ]
    const conn = (caps: { name: string; version: number }[]) => ({
      id: 'c1',
      inbound: false,
      trusted: false,
      caps,
    })
    assert.equal(addPeerChecks(limits, ours, view([], 0), conn([{ name: 'eth', version: 70 }])), UselessPeer)
    assert.equal(addPeerChecks(limits, ours, view([], 0), conn([{ name: 'ETH', version: 68 }])), UselessPeer)
    assert.equal(addPeerChecks(limits, ours, view([], 0), conn([{ name: 'eth', version: 69 }])), null)
  })
})
