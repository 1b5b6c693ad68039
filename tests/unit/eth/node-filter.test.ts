// The eth protocols' ENR entry and node filter (actors/eth.ts; geth eth/protocols/eth discovery.go
// currentENREntry / NewNodeFilter): the entry is [forkid] at our head; a discovered node is worth dialling only when
// its record has an `eth` entry our fork id filter accepts — none, another chain's, or a malformed one are refused.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createEthProtocols, localForkId, staticEthChain } from '../../../actors/eth.ts'
import { NETWORKS } from '../../../codecs/chains.ts'
import { createEnr, enrToNode } from '../../../codecs/enr.ts'
import type { Node } from '../../../codecs/node.ts'
import { rlpEncode } from '../../../codecs/rlp.ts'
import { generatePrivateKey } from '../../../crypto/secp256k1.ts'
import { mainnetAtPrague } from '../../fixtures/eth-chain.ts'

const unsynced = (name: keyof typeof NETWORKS) =>
  staticEthChain({ networkId: NETWORKS[name].networkId, forks: NETWORKS[name].forks })

const nodeWith = (other: Record<string, Uint8Array>): Node =>
  enrToNode(createEnr(generatePrivateKey(), { ip: '127.0.0.1', udp: 30303, tcp: 30303, other }))

describe('eth ENR entry and node filter', () => {
  const chain = mainnetAtPrague()
  const [p69, p68] = createEthProtocols({ chain }).protocols
  const filter = p69!.nodeFilter!

  it('every version carries the same entry and filter', () => {
    assert.equal(p68!.attributes, p69!.attributes)
    assert.equal(p68!.nodeFilter, filter)
  })

  it('accepts records whose eth entry passes our fork id filter (same fork, or a node still syncing)', () => {
    assert.ok(filter(nodeWith(p69!.attributes!)))
    // an unsynced mainnet node (Frontier, next Homestead) is a subset of our past forks: EIP-2124 rule 2
    const genesisEntry = createEthProtocols({ chain: unsynced('mainnet') }).protocols[0]!.attributes!
    assert.ok(filter(nodeWith(genesisEntry)))
    // geth's enrEntry has a tail of ignored elements
    const id = localForkId(chain)
    assert.ok(filter(nodeWith({ eth: rlpEncode([[id.hash, id.next], Uint8Array.of(1)]) })))
  })

  it('refuses nodes without a record, without an eth entry, of another chain, or with a malformed entry', () => {
    const bare: Node = { ...nodeWith(p69!.attributes!), record: undefined }
    assert.equal(filter(bare), false)
    assert.equal(filter(nodeWith({})), false)
    const sepolia = createEthProtocols({ chain: unsynced('sepolia') }).protocols[0]!.attributes!
    assert.equal(filter(nodeWith(sepolia)), false)
    assert.equal(filter(nodeWith({ eth: rlpEncode([Uint8Array.of(1, 2)]) })), false)
    assert.equal(filter(nodeWith({ eth: rlpEncode(Uint8Array.of(7)) })), false)
  })
})
