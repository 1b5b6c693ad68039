// enode URLs against go-ethereum p2p/enode/urlv4_test.go (TestParseNode, TestNodeString).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { bytesToHex } from '../../codecs/bytes.ts'
import { formatEnode, parseNode } from '../../codecs/enode.ts'
import { DecodeError } from '../../codecs/errors.ts'

interface Case {
  input: string
  valid: boolean
  expected?: {
    pubkey: string
    node_id: string
    ip: string | null
    hostname: string | null
    tcp: number
    udp: number
  }
  roundtrip?: boolean
  go_ethereum_error?: string
}
const { cases } = JSON.parse(readFileSync(new URL('./enode-urls.json', import.meta.url), 'utf8')) as {
  cases: Case[]
}

describe('enode URL vectors (geth TestParseNode / TestNodeString)', () => {
  it('has all 15 cases', () => assert.equal(cases.length, 15))
  for (const c of cases) {
    const label = c.input.length > 60 ? `${c.input.slice(0, 20)}…${c.input.slice(-30)}` : c.input || '(empty)'
    if (c.valid) {
      it(`parses ${label}`, () => {
        const n = parseNode(c.input)
        const e = c.expected!
        assert.equal(bytesToHex(n.pubkey), e.pubkey)
        assert.equal(bytesToHex(n.id), e.node_id)
        assert.equal(n.ip ?? null, e.ip)
        assert.equal(n.hostname ?? null, e.hostname)
        assert.equal(n.tcp ?? 0, e.tcp)
        assert.equal(n.udp ?? 0, e.udp)
        if (c.roundtrip) assert.equal(formatEnode(n), c.input)
      })
    } else {
      it(`rejects ${label} (${c.go_ethereum_error})`, () => {
        assert.throws(
          () => parseNode(c.input),
          (e) => e instanceof DecodeError && e.message.includes(c.go_ethereum_error!),
        )
      })
    }
  }
})
