// The public networks' presets (codecs/chains.ts) against the fork id vectors (tests/vectors/forkid.json,
// go-ethereum core/forkid tests): the same genesis, the same forks after gatherForks, and every creation case;
// their bootnodes and DNS lists parse.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { bytesToHex } from '../../../codecs/bytes.ts'
import { NETWORK_NAMES, NETWORKS } from '../../../codecs/chains.ts'
import { parseEnrTreeUrl } from '../../../codecs/dnsdisc.ts'
import { parseEnode } from '../../../codecs/enode.ts'
import { computeForkId, gatherForks } from '../../../codecs/forkid.ts'

interface VectorNetwork {
  genesis_hash: string
  genesis_timestamp: number
  fork_blocks: number[]
  fork_times: number[]
  cases: { head: number; time?: number; want_hash: string; want_next: number }[]
}
const vectors = JSON.parse(readFileSync(new URL('../../vectors/forkid.json', import.meta.url), 'utf8')) as {
  go_ethereum: { networks: Record<string, VectorNetwork> }
}

describe('network presets', () => {
  it('cover the networks of the fork id vectors', () => {
    assert.deepEqual([...NETWORK_NAMES].sort(), Object.keys(vectors.go_ethereum.networks).sort())
  })

  for (const name of NETWORK_NAMES) {
    const p = NETWORKS[name]
    const v = vectors.go_ethereum.networks[name]!
    it(`${name}: genesis and forks as geth's config, every fork id case`, () => {
      assert.equal(p.name, name)
      assert.equal(bytesToHex(p.forks.genesisHash), v.genesis_hash)
      assert.equal(BigInt(p.forks.genesisTime ?? 0), BigInt(v.genesis_timestamp))
      const g = gatherForks(p.forks)
      assert.deepEqual(g.blocks, v.fork_blocks.map(BigInt))
      assert.deepEqual(
        g.times,
        v.fork_times.map(BigInt).filter((t) => t > BigInt(v.genesis_timestamp)),
      )
      for (const c of v.cases) {
        const id = computeForkId(p.forks, c.head, c.time ?? 0)
        assert.equal(bytesToHex(id.hash), c.want_hash, `head ${c.head} time ${c.time ?? 0}`)
        assert.equal(id.next, BigInt(c.want_next), `head ${c.head} time ${c.time ?? 0}`)
      }
    })

    it(`${name}: bootnodes are enode URLs on port 30303, the DNS list an enrtree URL`, () => {
      assert.ok(p.bootnodes.length >= 2)
      for (const url of p.bootnodes) assert.equal(parseEnode(url).tcp, 30303)
      assert.equal(parseEnrTreeUrl(p.dnsList).domain, `all.${name}.ethdisco.net`)
    })
  }

  it('network ids are the chain ids (mainnet 1, sepolia 11155111, holesky 17000, hoodi 560048)', () => {
    assert.deepEqual(
      NETWORK_NAMES.map((n) => NETWORKS[n].networkId),
      [1n, 11155111n, 17000n, 560048n],
    )
  })
})
