// ENR against EIP-778's example record and go-ethereum's p2p/enode and p2p/enr tests, on both crypto paths.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes } from '../../codecs/bytes.ts'
import { parseNode } from '../../codecs/enode.ts'
import {
  createEnr,
  decodeEnr,
  encodeEnr,
  enrGet,
  enrNodeId,
  enrPublicKey,
  enrToNode,
  enrToText,
  parseEnrText,
} from '../../codecs/enr.ts'
import { DecodeError } from '../../codecs/errors.ts'
import { setCryptoBackend } from '../../crypto/backend.ts'

const v = JSON.parse(readFileSync(new URL('./enr.json', import.meta.url), 'utf8'))
const ex = v.example

for (const backend of ['fast', 'noble'] as const) {
  describe(`ENR vectors [${backend}]`, () => {
    const withBackend = (f: () => void) => () => {
      setCryptoBackend(backend)
      try {
        f()
      } finally {
        setCryptoBackend('fast')
      }
    }

    it(
      'EIP-778 example: decodes, verifies, node id, fields',
      withBackend(() => {
        const r = parseEnrText(ex.text)
        assert.equal(bytesToHex(r.raw), ex.rlp)
        assert.equal(r.seq, BigInt(ex.seq))
        assert.equal(bytesToHex(enrNodeId(r)), ex.node_id)
        assert.equal(enrGet(r, 'id'), ex.decoded.id)
        assert.equal(enrGet(r, 'ip'), ex.decoded.ip)
        assert.equal(enrGet(r, 'udp'), ex.decoded.udp)
        assert.equal(bytesToHex(enrGet(r, 'secp256k1')!), ex.decoded.secp256k1)
        assert.equal(bytesToHex(enrPublicKey(r)), ex.helper_derived.pubkey_uncompressed)
        assert.deepEqual([...r.pairs.keys()], ['id', 'ip', 'secp256k1', 'udp'])
      }),
    )

    it(
      'EIP-778 example: re-encodes byte-identical (RLP and text)',
      withBackend(() => {
        const r = decodeEnr(hexToBytes(ex.rlp))
        assert.equal(bytesToHex(encodeEnr(r)), ex.rlp)
        assert.equal(enrToText(r), ex.text)
      }),
    )

    it(
      'EIP-778 example: signing with RFC 6979 reproduces the record byte for byte',
      withBackend(() => {
        const r = createEnr(hexToBytes(ex.private_key), { seq: BigInt(ex.seq), ip: '127.0.0.1', udp: 30303 })
        assert.equal(enrToText(r), ex.text)
        assert.equal(bytesToHex(r.raw), ex.rlp)
      }),
    )

    it(
      'EIP-778 example: toNode',
      withBackend(() => {
        const n = enrToNode(parseEnrText(ex.text))
        assert.equal(bytesToHex(n.id), ex.node_id)
        assert.equal(bytesToHex(n.pubkey), ex.helper_derived.pubkey_uncompressed)
        assert.equal(n.ip, '127.0.0.1')
        assert.equal(n.udp, 30303)
        assert.equal(n.tcp, undefined)
        assert.equal(n.record?.seq, 1n)
      }),
    )

    for (const c of v.parse_cases) {
      if (c.valid) {
        it(
          `parse case ${c.name}: valid, equals the record built from its key`,
          withBackend(() => {
            const n = parseNode(c.input)
            assert.equal(bytesToHex(n.id), c.decoded_helper.node_id)
            assert.equal(n.ip, c.ip)
            assert.equal(n.udp, c.udp)
            assert.equal(n.record?.seq, BigInt(c.seq))
            const built = createEnr(hexToBytes(c.private_key), { seq: BigInt(c.seq), ip: c.ip, udp: c.udp })
            assert.equal(enrToText(built), c.input)
          }),
        )
      } else {
        it(
          `parse case ${c.name}: rejected`,
          withBackend(() => {
            assert.throws(() => parseNode(c.input), DecodeError)
            assert.throws(() => parseEnrText(c.input), DecodeError)
          }),
        )
      }
    }
  })
}

describe('ENR go-ethereum messages for the parse cases', () => {
  for (const c of v.parse_cases.filter((x: { valid: boolean }) => !x.valid)) {
    if (c.go_ethereum_error === 'EOF') continue // geth's io.EOF; ours says "empty input (EOF)"
    it(`${c.name}: ${c.go_ethereum_error}`, () => {
      assert.throws(
        () => parseNode(c.input),
        (e) => e instanceof DecodeError && e.message.includes(c.go_ethereum_error),
      )
    })
  }
  it('empty-after-prefix mentions EOF', () => {
    assert.throws(() => parseNode('enr:'), (e) => e instanceof DecodeError && e.message.includes('EOF'))
  })
})

describe('ENR decode incomplete (geth TestDecodeIncomplete, no signature check)', () => {
  for (const c of v.decode_incomplete_cases) {
    if (c.go_ethereum_error === null) {
      it(`${c.input} decodes`, () => {
        const r = decodeEnr(hexToBytes(c.input), { verify: false })
        assert.equal(bytesToHex(r.raw), c.input)
      })
    } else {
      it(`${c.input} → ${c.go_ethereum_error}`, () => {
        assert.throws(
          () => decodeEnr(hexToBytes(c.input), { verify: false }),
          (e) => e instanceof DecodeError && e.message.includes(c.go_ethereum_error),
        )
      })
    }
  }
})
