// The `node` command's eth flags (cli/commands/node.ts nodeEth / nodeConfig): --eth picks the chain (the
// devnet's, a public network at genesis, or none), a public network brings geth's bootnodes and DNS list unless
// the flags give their own, --networkid overrides the network id; bad values fail before anything starts.
// Nothing here opens a socket.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { localForkId } from '../../../actors/eth.ts'
import { DEVNET_CHAIN } from '../../../cli/commands/devnet.ts'
import { nodeConfig, nodeEth } from '../../../cli/commands/node.ts'
import { bytesToHex } from '../../../codecs/bytes.ts'
import { NETWORKS } from '../../../codecs/chains.ts'
import { rlpDecode } from '../../../codecs/rlp.ts'
import { NODE_FLAGS } from '../../helpers/cli.ts'

const flags = NODE_FLAGS
const names = (c: ReturnType<typeof nodeConfig>) => (c.protocols ?? []).map((p) => `${p.name}/${p.version}`)

describe('node --eth', () => {
  it('devnet (default): eth/72 to eth/68 over the devnet chain, then the built-in protocol; no bootnodes', () => {
    const e = nodeEth(flags)!
    assert.equal(e.name, 'devnet')
    assert.equal(e.network, undefined)
    assert.equal(e.chain.networkId, 1337n)
    assert.deepEqual(e.chain.forks, DEVNET_CHAIN.forks)
    // a pool behind the transaction fetcher, which the chain's reader serves
    assert.equal(e.pool?.size, 0)
    const tx = e.pool!.addLocal(Uint8Array.of(0xc1, 0x01))
    assert.deepEqual(e.chain.reader?.pooledTransaction?.(tx.hash), tx.rlp)
    const c = nodeConfig(flags, e)
    assert.deepEqual(names(c), ['eth/72', 'eth/71', 'eth/70', 'eth/69', 'eth/68', 'devp2p-actors/1'])
    assert.deepEqual(c.bootstrapNodes, [])
    assert.equal(c.dialCandidates, undefined)
  })

  for (const name of ['mainnet', 'sepolia', 'holesky', 'hoodi'] as const) {
    it(`${name}: the network at genesis, with geth's bootnodes and DNS list`, () => {
      const e = nodeEth({ ...flags, eth: name })!
      assert.equal(e.chain.networkId, NETWORKS[name].networkId)
      assert.equal(e.chain.head().number, 0n)
      assert.deepEqual(e.chain.head().hash, NETWORKS[name].forks.genesisHash)
      assert.equal(e.pool, undefined, 'unsynced: no pool, transactions ignored')
      const c = nodeConfig({ ...flags, eth: name }, e)
      assert.deepEqual(c.bootstrapNodes, NETWORKS[name].bootnodes)
      assert.equal(c.dialCandidates?.length, 1)
    })
  }

  it('the fork id of an unsynced mainnet node, and the ENR eth entry carrying it', () => {
    const e = nodeEth({ ...flags, eth: 'mainnet' })!
    const id = localForkId(e.chain)
    assert.deepEqual([bytesToHex(id.hash), id.next], ['fc64ec04', 1_150_000n])
    const attr = e.eth.protocols[0]!.attributes!.eth!
    assert.deepEqual(rlpDecode(attr), [[id.hash, Uint8Array.of(0x11, 0x8c, 0x30)]])
  })

  it('--bootnodes and --discovery.dns given (even empty) replace the network defaults; --nodiscover drops DNS', () => {
    const mk = (extra: object) => nodeConfig({ ...flags, eth: 'mainnet', ...extra })
    assert.deepEqual(mk({ bootnodes: '' }).bootstrapNodes, [])
    assert.equal(mk({ 'discovery.dns': '' }).dialCandidates, undefined)
    assert.equal(mk({ nodiscover: true }).dialCandidates, undefined)
  })

  it("--networkid overrides the chain's; none runs the built-in protocol only", () => {
    assert.equal(nodeEth({ ...flags, networkid: '5' })!.chain.networkId, 5n)
    assert.equal(
      nodeEth({ ...flags, eth: 'mainnet', networkid: '18446744073709551615' })!.chain.networkId,
      2n ** 64n - 1n,
    )
    assert.equal(nodeEth({ ...flags, eth: 'none' }), undefined)
    assert.deepEqual(names(nodeConfig({ ...flags, eth: 'none' })), ['devp2p-actors/1'])
  })

  it('bad values fail with the flag named', () => {
    assert.throws(
      () => nodeEth({ ...flags, eth: 'goerli' }),
      /^Error: invalid --eth "goerli" \(one of devnet, mainnet/,
    )
    assert.throws(() => nodeEth({ ...flags, networkid: '-1' }), /invalid --networkid "-1"/)
    assert.throws(() => nodeEth({ ...flags, networkid: '18446744073709551616' }), /invalid --networkid/)
    assert.throws(() => nodeEth({ ...flags, eth: 'none', networkid: '1' }), /--networkid needs an eth chain/)
  })
})
