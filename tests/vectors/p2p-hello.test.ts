// tests/vectors/p2p-hello.json (EIP-8 devp2p Hello with an unknown version and extra list elements) against
// codecs/p2p.ts: it must decode (version 55, not the "22" of the EIP's prose) and re-encode byte for byte.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes } from '../../codecs/bytes.ts'
import { decodeHello, encodeHello } from '../../codecs/p2p.ts'
import { rlpEncode } from '../../codecs/rlp.ts'

interface HelloCase {
  name: string
  rlp: string
  decoded_helper: {
    protocol_version: number
    client_id: string
    capabilities: [string, number][]
    listen_port: number
    node_id: string
    extra_elements_raw: string[]
  }
}
const vectors = JSON.parse(readFileSync(new URL('./p2p-hello.json', import.meta.url), 'utf8')) as {
  cases: HelloCase[]
}

describe('p2p Hello vectors', () => {
  it('has the one EIP-8 case', () => assert.equal(vectors.cases.length, 1))
  for (const c of vectors.cases) {
    it(`${c.name}: decodes every field and keeps the extra elements`, () => {
      const h = decodeHello(hexToBytes(c.rlp))
      const w = c.decoded_helper
      assert.equal(h.version, 55)
      assert.equal(h.version, w.protocol_version)
      assert.equal(h.name, w.client_id)
      assert.deepEqual(
        h.caps.map((x) => [x.name, x.version]),
        w.capabilities,
      )
      assert.equal(h.listenPort, w.listen_port)
      assert.equal(bytesToHex(h.id), w.node_id)
      assert.deepEqual(
        (h.extra ?? []).map((x) => bytesToHex(rlpEncode(x))),
        w.extra_elements_raw,
      )
    })
    it(`${c.name}: re-encodes byte for byte`, () => {
      assert.equal(bytesToHex(encodeHello(decodeHello(hexToBytes(c.rlp)))), c.rlp.toLowerCase())
    })
    it(`${c.name}: still decodes without its extra elements and with trailing bytes (geth stream decode)`, () => {
      const h = decodeHello(hexToBytes(c.rlp))
      delete h.extra
      const plain = encodeHello(h)
      assert.deepEqual(decodeHello(plain), h)
      const trailing = new Uint8Array([...plain, 0x01, 0x02])
      assert.deepEqual(decodeHello(trailing), h)
    })
  }
})
