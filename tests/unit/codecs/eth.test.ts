// codecs/eth.ts: the Status message of eth/68 and eth/69 — round trips, geth's strictness, byte layout.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes } from '../../../codecs/bytes.ts'
import { DecodeError } from '../../../codecs/errors.ts'
import {
  blockRangeError,
  decodeBlockRange,
  decodeGetBlockHeaders,
  decodeHashesRequest,
  decodeRawResponse,
  decodeStatus,
  ETH_PROTOCOL_LENGTH,
  type EthStatus68,
  type EthStatus69,
  encodeBlockRange,
  encodeGetBlockHeaders,
  encodeHashesRequest,
  encodeRawResponse,
  encodeStatus,
} from '../../../codecs/eth.ts'
import { rlpDecode, rlpEncode } from '../../../codecs/rlp.ts'

const GENESIS = hexToBytes('d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3')
const HEAD = new Uint8Array(32).fill(0xab)
const s68: EthStatus68 = {
  version: 68,
  networkId: 1n,
  td: 17179869184n,
  head: HEAD,
  genesis: GENESIS,
  forkId: { hash: hexToBytes('c376cf8b'), next: 1764798551n },
}
const s69: EthStatus69 = {
  version: 69,
  networkId: 11155111n,
  genesis: GENESIS,
  forkId: { hash: hexToBytes('9f3d2254'), next: 0n },
  earliest: 0n,
  latest: 22_000_000n,
  latestHash: HEAD,
}

describe('eth Status codec', () => {
  it('lays out eth/68 as [version, networkId, td, head, genesis, forkId]', () => {
    const l = rlpDecode(encodeStatus(68, s68)) as Uint8Array[]
    assert.equal(l.length, 6)
    assert.equal(bytesToHex(l[0]!), '44')
    assert.equal(bytesToHex(l[1]!), '01')
    assert.equal(bytesToHex(l[2]!), '0400000000')
    assert.deepEqual(l[3], HEAD)
    assert.deepEqual(l[4], GENESIS)
    assert.deepEqual(l[5], [hexToBytes('c376cf8b'), hexToBytes('6930b057')])
    assert.deepEqual(decodeStatus(68, encodeStatus(68, s68)), s68)
  })

  it('lays out eth/69 as [version, networkId, genesis, forkId, earliest, latest, latestHash]', () => {
    const l = rlpDecode(encodeStatus(69, s69)) as Uint8Array[]
    assert.equal(l.length, 7)
    assert.equal(bytesToHex(l[0]!), '45')
    assert.deepEqual(l[2], GENESIS)
    assert.deepEqual(l[3], [hexToBytes('9f3d2254'), new Uint8Array(0)])
    assert.equal(l[4]!.length, 0)
    assert.deepEqual(decodeStatus(69, encodeStatus(69, s69)), s69)
    assert.equal(ETH_PROTOCOL_LENGTH[68], 17)
    assert.equal(ETH_PROTOCOL_LENGTH[69], 18)
  })

  it('keeps the version field as sent: the handshake compares it', () => {
    assert.equal(decodeStatus(68, encodeStatus(68, { ...s68, version: 67 })).version, 67)
  })

  it('is as strict as geth: no missing or extra fields, canonical integers, 32-byte hashes', () => {
    const items = rlpDecode(encodeStatus(68, s68)) as Uint8Array[]
    const bad = (l: unknown[], code: string) =>
      assert.throws(
        () => decodeStatus(68, rlpEncode(l as never)),
        (e: unknown) => e instanceof DecodeError && e.code === code,
      )
    bad([...items, new Uint8Array(1)], 'BAD_MESSAGE')
    bad(items.slice(0, 5), 'RLP_TOO_FEW_ELEMENTS')
    bad([items[0], Uint8Array.of(0, 1), ...items.slice(2)], 'INT_LEADING_ZERO')
    bad([items[0], new Uint8Array(9).fill(1), ...items.slice(2)], 'INT_TOO_LARGE')
    bad([...items.slice(0, 3), new Uint8Array(31), ...items.slice(4)], 'BAD_LENGTH')
    bad([...items.slice(0, 5), [hexToBytes('c376cf8b')]], 'RLP_TOO_FEW_ELEMENTS')
    assert.throws(() => decodeStatus(69, encodeStatus(68, s68)), DecodeError)
    assert.throws(() => decodeStatus(68, Uint8Array.of(0xc0, 0x00)), DecodeError)
  })

  it('refuses to encode out-of-range fields', () => {
    assert.throws(() => encodeStatus(68, { ...s68, head: new Uint8Array(31) }), RangeError)
    assert.throws(() => encodeStatus(69, { ...s69, latest: 1n << 64n }), RangeError)
    assert.throws(() => encodeStatus(68, { ...s68, td: -1n }), RangeError)
  })

  it("checks an eth/69 block range as geth's Validate does", () => {
    assert.equal(blockRangeError(0n, 10n, HEAD), null)
    assert.equal(blockRangeError(11n, 10n, HEAD), 'earliest > latest')
    assert.equal(blockRangeError(0n, 10n, new Uint8Array(32)), 'zero latest hash')
  })
})

describe('eth requests and responses', () => {
  it('round-trips GetBlockHeaders with a number or a hash origin', () => {
    const byNumber = { origin: { number: 22_000_000n }, amount: 192n, skip: 0n, reverse: false }
    assert.deepEqual(decodeGetBlockHeaders(encodeGetBlockHeaders(7n, byNumber)), { id: 7n, query: byNumber })
    const byHash = { origin: { hash: HEAD }, amount: 1n, skip: 3n, reverse: true }
    assert.deepEqual(decodeGetBlockHeaders(encodeGetBlockHeaders(2n ** 64n - 1n, byHash)), {
      id: 2n ** 64n - 1n,
      query: byHash,
    })
    // [id, [origin, amount, skip, reverse]]
    const l = rlpDecode(encodeGetBlockHeaders(7n, byNumber)) as unknown[]
    assert.equal((l[1] as unknown[]).length, 4)
  })

  it("decodes the origin as geth's HashOrNumber: 32 bytes a hash, ≤ 8 a number, else an error", () => {
    const with_ = (origin: Uint8Array) => rlpEncode([1, [origin, 1, 0, 0]])
    assert.throws(
      () => decodeGetBlockHeaders(with_(new Uint8Array(20).fill(1))),
      /invalid input size 20 for origin/,
    )
    assert.throws(() => decodeGetBlockHeaders(rlpEncode([1, [1, 1, 0, 2]])), /invalid boolean/)
    assert.throws(() => decodeGetBlockHeaders(rlpEncode([1, [1, 1, 0, 0, 0]])), /too many elements/)
    assert.deepEqual(decodeGetBlockHeaders(with_(new Uint8Array(0))).query.origin, { number: 0n })
  })

  it('round-trips hash requests and raw responses, keeping items as their RLP', () => {
    const hashes = [HEAD, GENESIS]
    assert.deepEqual(decodeHashesRequest(encodeHashesRequest(9n, hashes)), { id: 9n, hashes })
    assert.throws(() => decodeHashesRequest(rlpEncode([1, [new Uint8Array(31)]])), DecodeError)
    const items = [rlpEncode([1, 2]), rlpEncode(Uint8Array.of(0x02, 0xaa)), rlpEncode([])]
    const r = decodeRawResponse(encodeRawResponse(3n, items))
    assert.equal(r.id, 3n)
    assert.deepEqual(r.items, items)
    assert.deepEqual(decodeRawResponse(encodeRawResponse(0n, [])), { id: 0n, items: [] })
    assert.throws(() => decodeRawResponse(rlpEncode([1])), DecodeError)
    assert.throws(() => decodeRawResponse(rlpEncode([1, [], 2])), DecodeError)
  })

  it('round-trips the eth/69 BlockRangeUpdate', () => {
    const r = { earliest: 1n, latest: 2n, latestHash: HEAD }
    assert.deepEqual(decodeBlockRange(encodeBlockRange(r)), r)
    assert.throws(() => decodeBlockRange(rlpEncode([1, 2])), DecodeError)
  })
})
