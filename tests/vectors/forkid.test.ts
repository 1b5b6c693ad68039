// EIP-2124 fork ids against the EIP's tables and go-ethereum core/forkid tests (creation, validation, encoding).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes } from '../../codecs/bytes.ts'
import {
  type ChainForks,
  computeForkId,
  decodeForkId,
  encodeForkId,
  newForkIdFilter,
} from '../../codecs/forkid.ts'

interface Network {
  genesis_hash: string
  genesis_timestamp: number
  fork_blocks: number[]
  fork_times: number[]
  config_fields: { blocks: Record<string, number>; times: Record<string, number> | null }
  cases: { head: number; time?: number; want_hash: string; want_next: number; comment: string }[]
}
interface Validation {
  section?: string
  local_config?: string
  head: number
  time: number
  remote_hash: string
  remote_next: number | string
  want_error: string | null
  comment: string
}
interface Section {
  networks: Record<string, Network>
  validation: { cases: Validation[] }
  encoding: { hash: string; next: number | string; rlp: string }[]
}
const v = JSON.parse(readFileSync(new URL('./forkid.json', import.meta.url), 'utf8')) as {
  eip2124: Section
  go_ethereum: Section
}

/** The chain config as geth holds it: every *Block / *Time field (gatherForks does the rest). */
function configOf(n: Network, withTimes = true): ChainForks {
  return {
    genesisHash: hexToBytes(n.genesis_hash),
    genesisTime: n.genesis_timestamp,
    blocks: Object.values(n.config_fields.blocks),
    times: withTimes ? Object.values(n.config_fields.times ?? {}) : [],
  }
}

for (const [sectionName, section] of [
  ['eip2124', v.eip2124],
  ['go_ethereum', v.go_ethereum],
] as const) {
  describe(`forkid ${sectionName}: creation`, () => {
    for (const [name, net] of Object.entries(section.networks)) {
      const config = configOf(net)
      for (const c of net.cases) {
        it(`${name} head ${c.head} time ${c.time ?? 0}: ${c.want_hash}/${c.want_next} (${c.comment})`, () => {
          const id = computeForkId(config, c.head, c.time ?? 0)
          assert.equal(bytesToHex(id.hash), c.want_hash)
          assert.equal(id.next, BigInt(c.want_next))
        })
      }
    }
  })

  describe(`forkid ${sectionName}: validation`, () => {
    const mainnet = section.networks.mainnet!
    for (const c of section.validation.cases) {
      const legacy = c.local_config === 'mainnet-legacy-blocks-only' || sectionName === 'eip2124'
      const config = configOf(mainnet, !legacy)
      it(`${c.section ?? ''} head ${c.head} time ${c.time} vs ${c.remote_hash}/${c.remote_next} → ${c.want_error}`, () => {
        const filter = newForkIdFilter(config, () => ({ block: c.head, time: c.time }))
        const err = filter({ hash: hexToBytes(c.remote_hash), next: BigInt(c.remote_next) })
        assert.equal(err?.code ?? null, c.want_error, c.comment)
      })
    }
  })

  describe(`forkid ${sectionName}: encoding`, () => {
    for (const c of section.encoding) {
      it(`${c.hash}/${c.next} ⇄ ${c.rlp}`, () => {
        const id = { hash: hexToBytes(c.hash), next: BigInt(c.next) }
        assert.equal(bytesToHex(encodeForkId(id)), c.rlp)
        const back = decodeForkId(hexToBytes(c.rlp))
        assert.equal(bytesToHex(back.hash), c.hash)
        assert.equal(back.next, BigInt(c.next))
      })
    }
  })
}

describe('forkid counts', () => {
  it('covers all 43 + 78 creation, 15 + 45 validation and 3 + 3 encoding cases', () => {
    const count = (s: Section) => Object.values(s.networks).reduce((n, x) => n + x.cases.length, 0)
    assert.equal(count(v.eip2124), 43)
    assert.equal(count(v.go_ethereum), 78)
    assert.equal(v.eip2124.validation.cases.length, 15)
    assert.equal(v.go_ethereum.validation.cases.length, 45)
    assert.equal(v.eip2124.encoding.length + v.go_ethereum.encoding.length, 6)
  })
})
