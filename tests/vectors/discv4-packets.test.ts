// Every case of tests/vectors/discv4-packets.json (EIP-8 discovery vectors + geth's plain ping) against
// codecs/discv4.ts: hash, signature, sender, fields, extra elements, trailing data, re-encoding.
//
// EIP-868 decision (like geth since 3e6f46caec, `rlp:"optional"` enr-seq): the four packets whose enr-seq
// position is absent or an integer are accepted; `ping-v555-extra-elements-and-data` and
// `pong-extra-elements-and-data` (a *list* in the enr-seq position) are rejected with RLP_UNEXPECTED_TYPE —
// after the hash check and sender recovery, which the error details report.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes } from '../../codecs/bytes.ts'
import {
  DISCV4_HEAD_SIZE,
  type Discv4Packet,
  decodePacket,
  decodePacketData,
  encodePacket,
} from '../../codecs/discv4.ts'
import { DecodeError } from '../../codecs/errors.ts'
import { type RlpInput, type RlpItem, rlpDecodePrefix, rlpEncode } from '../../codecs/rlp.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { publicKeyOf, recoverPublicKey } from '../../crypto/secp256k1.ts'

interface VEndpoint {
  ip: string
  ip_raw: string
  udp: number
  tcp: number
}
interface VCase {
  name: string
  packet: string
  packet_type: number
  hash: string
  signature: string
  packet_data_rlp: string
  trailing_data: string
  decoded: {
    version?: number
    from?: VEndpoint
    to?: VEndpoint
    ping_hash?: string
    target?: string
    nodes?: (VEndpoint & { id: string })[]
    expiration: number
    extra_list_elements: string[]
  }
  eip868?: { enr_seq: number | null | 'INVALID'; rest?: string[] }
  go_ethereum_expectations: { go_ethereum_head: { present: boolean; accepted?: boolean; rest?: string[] } }
}

const vectors = JSON.parse(readFileSync(new URL('./discv4-packets.json', import.meta.url), 'utf8')) as {
  signing_key: string
  signing_pubkey_derived: string
  signing_node_id_derived: string
  cases: VCase[]
}
const key = hexToBytes(vectors.signing_key)
const hex = (b: Uint8Array) => bytesToHex(b)
const low = (s: string) => s.toLowerCase()

const REJECTED = new Set(['ping-v555-extra-elements-and-data', 'pong-extra-elements-and-data'])

function checkEndpoint(got: { ip: string; udp: number; tcp: number }, want: VEndpoint): void {
  assert.deepEqual(got, { ip: want.ip, udp: want.udp, tcp: want.tcp })
}

describe('discv4 vectors', () => {
  it('the signing key derives the stated public key and node id', () => {
    assert.equal(hex(publicKeyOf(key)), vectors.signing_pubkey_derived)
    assert.equal(hex(keccak256(publicKeyOf(key))), vectors.signing_node_id_derived)
  })

  it('covers all six cases and exactly the two geth-rejected ones are rejected', () => {
    assert.equal(vectors.cases.length, 6)
    for (const c of vectors.cases) {
      const gethAccepts = c.go_ethereum_expectations.go_ethereum_head.present
      assert.equal(!REJECTED.has(c.name), gethAccepts, c.name)
    }
  })

  for (const c of vectors.cases) {
    describe(c.name, () => {
      const bytes = hexToBytes(c.packet)

      it('framing: hash = keccak256(sig||type||data), signature recovers the signing key', () => {
        assert.equal(hex(bytes.subarray(0, 32)), low(c.hash))
        assert.equal(hex(keccak256(bytes.subarray(32))), low(c.hash))
        assert.equal(hex(bytes.subarray(32, DISCV4_HEAD_SIZE)), low(c.signature))
        assert.equal(bytes[DISCV4_HEAD_SIZE], c.packet_type)
        assert.equal(hex(bytes.subarray(DISCV4_HEAD_SIZE + 1)), low(c.packet_data_rlp) + low(c.trailing_data))
        const rec = recoverPublicKey(keccak256(bytes.subarray(DISCV4_HEAD_SIZE)), hexToBytes(c.signature))
        assert.equal(hex(rec), vectors.signing_pubkey_derived)
      })

      if (REJECTED.has(c.name)) {
        it('is rejected like geth (list in the EIP-868 enr-seq position), after hash and sender checks', () => {
          assert.equal(c.eip868?.enr_seq, 'INVALID')
          assert.throws(
            () => decodePacket(bytes),
            (e: unknown) => {
              assert.ok(e instanceof DecodeError)
              assert.equal(e.code, 'RLP_UNEXPECTED_TYPE')
              assert.match(e.message, /enrSeq/)
              assert.equal(hex(e.details.hash as Uint8Array), low(c.hash))
              assert.equal(hex(e.details.senderPubkey as Uint8Array), vectors.signing_pubkey_derived)
              return true
            },
          )
        })
        it('its other fields decode once the list in the enr-seq position is taken out (pure EIP-8 view)', () => {
          const list = rlpDecodePrefix(hexToBytes(c.packet_data_rlp)).item as RlpItem[]
          const seqAt = c.packet_type === 1 ? 4 : 3
          const without = rlpEncode(list.filter((_, i) => i !== seqAt) as RlpInput[])
          const { packet: p } = decodePacketData(c.packet_type, without)
          const w = c.decoded
          assert.ok('expiration' in p)
          assert.equal(p.expiration, BigInt(w.expiration))
          if (p.type === 'ping') {
            assert.equal(p.version, w.version)
            checkEndpoint(p.from, w.from!)
            checkEndpoint(p.to, w.to!)
          } else if (p.type === 'pong') {
            checkEndpoint(p.to, w.to!)
            assert.equal(hex(p.replyTok), low(w.ping_hash!))
          } else assert.fail(`unexpected type ${p.type}`)
          // with the enr-seq position removed, the remaining extras follow as geth's pre-EIP-868 `rest`
          const all = [hex(rlpEncode(list[seqAt] as RlpInput))]
          const enrSeq = (p as { enrSeq?: bigint }).enrSeq
          if (enrSeq !== undefined) all.push(hex(rlpEncode(enrSeq)))
          for (const x of p.extra ?? []) all.push(hex(rlpEncode(x as RlpInput)))
          assert.deepEqual(all, c.decoded.extra_list_elements.map(low))
        })
        return
      }

      const d = decodePacket(bytes)
      it('decodes hash, sender and trailing data', () => {
        assert.equal(hex(d.hash), low(c.hash))
        assert.equal(hex(d.senderPubkey), vectors.signing_pubkey_derived)
        assert.equal(hex(d.senderId), vectors.signing_node_id_derived)
        assert.equal(hex(d.rest), low(c.trailing_data))
      })

      it('decodes the fields', () => {
        const p = d.packet
        const w = c.decoded
        assert.ok('expiration' in p)
        assert.equal(p.expiration, BigInt(w.expiration))
        switch (p.type) {
          case 'ping':
            assert.equal(c.packet_type, 1)
            assert.equal(p.version, w.version)
            checkEndpoint(p.from, w.from!)
            checkEndpoint(p.to, w.to!)
            break
          case 'findnode':
            assert.equal(c.packet_type, 3)
            assert.equal(hex(p.target), low(w.target!))
            break
          case 'neighbors':
            assert.equal(c.packet_type, 4)
            assert.equal(p.nodes.length, w.nodes!.length)
            p.nodes.forEach((n, i) => {
              const wn = w.nodes![i]!
              checkEndpoint({ ip: n.ip, udp: n.udp, tcp: n.tcp }, wn)
              assert.equal(hex(n.pubkey), low(wn.id))
            })
            break
          default:
            assert.fail(`unexpected type ${p.type}`)
        }
      })

      it("extra list elements and enr-seq match geth's decoding", () => {
        const p = d.packet as Discv4Packet & { enrSeq?: bigint }
        const gethRest = c.go_ethereum_expectations.go_ethereum_head.rest ?? []
        assert.deepEqual(
          (p.extra ?? []).map((x) => hex(rlpEncode(x))),
          gethRest.map(low),
        )
        if (p.type === 'ping') {
          const seq = c.eip868?.enr_seq
          assert.equal(p.enrSeq, seq === null || seq === undefined ? undefined : BigInt(seq as number))
        }
        // all list elements are accounted for: fields + enrSeq + extra = the vector's extras
        const extraCount = c.decoded.extra_list_elements.length
        assert.equal((p.extra?.length ?? 0) + (p.enrSeq !== undefined ? 1 : 0), extraCount)
      })

      it('re-encodes with the same key to the same type and data (signature/hash differ), and recovers', () => {
        const enc = encodePacket(key, d.packet)
        assert.equal(
          hex(enc.bytes.subarray(DISCV4_HEAD_SIZE)),
          hex(Uint8Array.of(c.packet_type)) + low(c.packet_data_rlp),
        )
        assert.equal(hex(enc.hash), hex(keccak256(enc.bytes.subarray(32))))
        assert.equal(hex(enc.bytes.subarray(0, 32)), hex(enc.hash))
        const back = decodePacket(enc.bytes)
        assert.equal(hex(back.senderPubkey), vectors.signing_pubkey_derived)
        assert.equal(hex(back.senderId), vectors.signing_node_id_derived)
        assert.deepEqual(back.packet, d.packet)
        assert.equal(back.rest.length, 0)
      })
    })
  }
})
