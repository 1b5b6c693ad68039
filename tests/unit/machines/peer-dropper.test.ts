// machines/peer-dropper.ts: geth dropper.dropRandomPeer's choice — nothing while both pools have room; otherwise a
// random peer of a full pool that is neither trusted, static nor younger than 10 minutes.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type DropCandidate,
  nextDropDelay,
  PEER_DROP,
  pickPeerToDrop,
} from '../../../machines/peer-dropper.ts'

const MIN = 60_000
const NOW = 100 * MIN
const peer = (id: string, o: Partial<DropCandidate> = {}): DropCandidate => ({
  id,
  inbound: false,
  trusted: false,
  static: false,
  since: NOW - 11 * MIN,
  ...o,
})
// maxPeers 6, dialRatio 3: 2 dialled, 4 inbound
const pools = { maxDialed: 2, maxInbound: 4 }
const first = () => 0
const last = () => 0.999

describe('peer dropper choice (geth eth/dropper.go)', () => {
  it('drops nothing while both pools have room', () => {
    const peers = [peer('d1'), peer('i1', { inbound: true }), peer('i2', { inbound: true })]
    assert.equal(pickPeerToDrop(peers, pools, NOW, first), null)
  })

  it('with the dialled pool full, picks among the old dynamic dialled peers only', () => {
    const peers = [peer('d1'), peer('d2'), peer('i1', { inbound: true })]
    assert.equal(pickPeerToDrop(peers, pools, NOW, first)?.id, 'd1')
    assert.equal(pickPeerToDrop(peers, pools, NOW, last)?.id, 'd2')
    // the inbound pool has room: its peers are kept
    for (let r = 0; r < 1; r += 0.1) assert.notEqual(pickPeerToDrop(peers, pools, NOW, () => r)?.id, 'i1')
  })

  it('keeps trusted peers, static dials and peers connected for less than 10 minutes', () => {
    const young = NOW - PEER_DROP.doNotDropBeforeMs + 1
    const kept = [peer('d1', { trusted: true }), peer('d2', { static: true })]
    assert.equal(pickPeerToDrop(kept, pools, NOW, first), null)
    assert.equal(pickPeerToDrop([peer('d1'), peer('d2', { since: young })], pools, NOW, last)?.id, 'd1')
    assert.equal(
      pickPeerToDrop([peer('d1', { since: young }), peer('d2', { since: young })], pools, NOW, first),
      null,
    )
  })

  it('with the inbound pool full, picks among inbound peers; both full, among all', () => {
    const inb = ['i1', 'i2', 'i3', 'i4'].map((id) => peer(id, { inbound: true }))
    assert.equal(pickPeerToDrop([peer('d1'), ...inb], pools, NOW, first)?.id, 'i1')
    const all = [peer('d1'), peer('d2'), ...inb]
    const seen = new Set<string>()
    for (let i = 0; i < 6; i++) seen.add(pickPeerToDrop(all, pools, NOW, () => i / 6)!.id)
    assert.deepEqual([...seen].sort(), ['d1', 'd2', 'i1', 'i2', 'i3', 'i4'])
  })

  it('waits a uniform 3 to 7 minutes between tries', () => {
    assert.equal(nextDropDelay(first), 3 * MIN)
    assert.ok(nextDropDelay(last) < 7 * MIN && nextDropDelay(last) > 6.9 * MIN)
    assert.equal(nextDropDelay(first, 5, 5), 5)
  })
})
