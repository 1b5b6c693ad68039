// Dial candidates from discovery through the eth node filter (geth eth/backend.go setupDiscovery, eth.NewNodeFilter)
// on loopback: a bootnode and two nodes on one chain and a node on another chain all discover each other, but only
// records whose `eth` entry passes the fork id filter are dialled — the two nodes of one chain connect, and the
// other chain's node is never dialled nor dials (no TCP connection either way), though it is in every table. And
// the local record's `eth` entry follows the head across a fork (geth StartENRUpdater).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createEthProtocols, staticEthChain } from '../../actors/eth.ts'
import { enrGet, parseEnrText } from '../../codecs/enr.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { assertNoLeaks, makeNode, metric, resources, sleep, stopAll, waitUntil } from './server-helpers.ts'

const disc = { noDiscovery: false, discovery: { bindAddr: '127.0.0.1' } }
const chainOf = (name: string) =>
  staticEthChain({
    networkId: 1337n,
    forks: { genesisHash: keccak256(new TextEncoder().encode(name)), blocks: [], times: [] },
  })

describe('eth dial candidates from discovery', () => {
  it('only nodes whose ENR eth entry passes the fork id filter are dialled', async () => {
    const baseline = resources()
    const a = chainOf('chain a')
    const ethNode = (chainName: 'a' | 'b', bootnodes: string[], noDial = false) =>
      makeNode({
        ...disc,
        noDial,
        bootstrapNodes: bootnodes,
        protocols: createEthProtocols({ chain: chainName === 'a' ? a : chainOf('chain b') }).protocols,
      })
    const boot = ethNode('a', [], true)
    await boot.srv.start()
    const bootEnode = boot.srv.nodeInfo().enode
    const other = ethNode('b', [bootEnode])
    const x = ethNode('a', [bootEnode])
    const y = ethNode('a', [bootEnode])
    const nodes = [boot, other, x, y]
    try {
      await Promise.all([other, x, y].map((n) => n.srv.start()))
      // our record carries the entry the others filter on
      assert.ok(enrGet(x.srv.discovery!.localNode.record(), 'eth'))
      await waitUntil(
        () =>
          x.srv.peersInfo().some((p) => p.id === y.id()) && y.srv.peersInfo().some((p) => p.id === x.id()),
        30_000,
        'x and y connected through discovery',
      )
      // everyone knows everyone: the other chain's node had its chances to dial and be dialled
      const knows = (n: typeof x, m: typeof x) =>
        n.srv.discovery?.table.getNode(m.srv.self().id) !== undefined
      await waitUntil(
        () => knows(other, x) && knows(other, y) && knows(x, other) && knows(y, other),
        30_000,
        'the other chain in every table and every table in it',
      )
      await sleep(1500)
      assert.equal(await metric(other.registry, 'p2p_dials'), 0, 'the other chain dialled nobody')
      assert.equal(await metric(other.registry, 'p2p_serves'), 0, 'nobody dialled the other chain')
      assert.deepEqual(other.events, [])
      assert.ok((await metric(x.registry, 'p2p_dials')) + (await metric(y.registry, 'p2p_dials')) >= 1)
    } finally {
      await stopAll(nodes)
    }
    await assertNoLeaks(baseline, 3000)
  })
})

describe('the ENR eth entry follows the head', () => {
  it('headChanged() past a fork sets the new fork id in the local record (geth StartENRUpdater)', async () => {
    let head = { number: 99n, hash: new Uint8Array(32).fill(9), time: 0n }
    const forks = { genesisHash: keccak256(new TextEncoder().encode('chain c')), blocks: [100], times: [] }
    const eth = createEthProtocols({ chain: { networkId: 1337n, forks, head: () => head } })
    const node = makeNode({ protocols: eth.protocols })
    await node.srv.start()
    try {
      const entry = () => {
        const rec = node.srv.nodeInfo().enr
        return enrGet(parseEnrText(rec), 'eth')!
      }
      const before = entry()
      assert.equal(before.next, 100n)
      const seq = parseEnrText(node.srv.nodeInfo().enr).seq
      eth.headChanged() // same fork id: the record stays
      assert.equal(parseEnrText(node.srv.nodeInfo().enr).seq, seq)
      head = { ...head, number: 100n }
      eth.headChanged()
      const after = entry()
      assert.equal(after.next, 0n)
      assert.notDeepEqual(after.hash, before.hash)
      assert.equal(parseEnrText(node.srv.nodeInfo().enr).seq, seq + 1n)
    } finally {
      await node.srv.stop()
    }
  })
})
