// codecs/eth.ts: the Status message of eth/68 and eth/69, the requests and responses, and eth/70–72's messages —
// round trips, geth's strictness, byte layout.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes } from '../../../codecs/bytes.ts'
import { DecodeError } from '../../../codecs/errors.ts'
import {
  BAL_UNAVAILABLE,
  blockRangeError,
  CELL_SIZE,
  decodeBlockRange,
  decodeCells,
  decodeGetBlockHeaders,
  decodeGetCells,
  decodeGetReceipts70,
  decodeHashesRequest,
  decodePooledTxHashes,
  decodeRawResponse,
  decodeReceipts70,
  decodeStatus,
  ETH_MSG,
  ETH_PROTOCOL_LENGTH,
  ETH_VERSIONS,
  type EthStatus68,
  type EthStatus69,
  encodeBlockRange,
  encodeCells,
  encodeGetBlockHeaders,
  encodeGetCells,
  encodeGetReceipts70,
  encodeHashesRequest,
  encodePooledTxHashes,
  encodeRawResponse,
  encodeReceipts70,
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

describe('eth/70–72 messages (geth v1.17.5 protocol.go)', () => {
  const deadc0de = hexToBytes(`${'00'.repeat(28)}deadc0de`)
  const feedbeef = hexToBytes(`${'00'.repeat(28)}feedbeef`)

  it("speaks geth's versions with their lengths and codes", () => {
    assert.deepEqual(ETH_VERSIONS, [72, 71, 70, 69, 68])
    assert.deepEqual(ETH_PROTOCOL_LENGTH, { 68: 17, 69: 18, 70: 18, 71: 20, 72: 22 })
    assert.deepEqual(
      [ETH_MSG.getBlockAccessLists, ETH_MSG.blockAccessLists, ETH_MSG.getCells, ETH_MSG.cells],
      [0x12, 0x13, 0x14, 0x15],
    )
  })

  it('lays out GetReceipts as [id, firstBlockReceiptIndex, [hash…]] and Receipts as [id, incomplete, [list…]]', () => {
    // geth's GetReceipts test packet (request id 1111, deadc0de and feedbeef) with firstBlockReceiptIndex 2
    const get = encodeGetReceipts70(1111n, 2n, [deadc0de, feedbeef])
    assert.equal(bytesToHex(get), `f84882045702f842a0${bytesToHex(deadc0de)}a0${bytesToHex(feedbeef)}`)
    assert.deepEqual(decodeGetReceipts70(get), { id: 1111n, firstIndex: 2n, hashes: [deadc0de, feedbeef] })
    assert.equal(bytesToHex(encodeReceipts70(1111n, true, [rlpEncode([])])), 'c682045701c1c0')
    assert.equal(bytesToHex(encodeReceipts70(1111n, false, [])), 'c582045780c0')
    const list = rlpEncode([[Uint8Array.of(2), 1, 21000, []]])
    assert.deepEqual(decodeReceipts70(encodeReceipts70(7n, true, [list])), {
      id: 7n,
      incomplete: true,
      items: [list],
    })
    // a boolean is 0x80 or 0x01 (geth's decoder): 2 and a non-canonical 0x00 are errors, so is a missing field
    assert.throws(() => decodeReceipts70(hexToBytes('c582045702c0')), /invalid boolean value 2/)
    assert.throws(() => decodeReceipts70(hexToBytes('c582045700c0')), DecodeError)
    assert.throws(() => decodeReceipts70(hexToBytes('c3820457')), DecodeError)
    assert.throws(() => decodeGetReceipts70(rlpEncode([1, [deadc0de]])), DecodeError)
  })

  it('eth/71: a BlockAccessLists item the server lacks is the RLP empty string', () => {
    assert.equal(bytesToHex(BAL_UNAVAILABLE), '80')
  })

  it('eth/72: announcements end with the 16-byte custody mask; cells are 2048 bytes each', () => {
    const a = { types: Uint8Array.of(0, 3), sizes: [100, 131_000], hashes: [deadc0de, feedbeef] }
    assert.deepEqual(decodePooledTxHashes(encodePooledTxHashes(a, 71), 71), a)
    const mask = new Uint8Array(16).fill(0x81)
    const with72 = encodePooledTxHashes({ ...a, mask }, 72)
    assert.deepEqual(decodePooledTxHashes(with72, 72), { ...a, mask })
    // no mask given: all zero
    assert.deepEqual(decodePooledTxHashes(encodePooledTxHashes(a, 72), 72).mask, new Uint8Array(16))
    assert.throws(() => decodePooledTxHashes(with72, 71), DecodeError)
    assert.throws(() => decodePooledTxHashes(encodePooledTxHashes(a, 71), 72), DecodeError)
    assert.throws(() => encodePooledTxHashes({ ...a, mask: new Uint8Array(15) }, 72), RangeError)

    const get = encodeGetCells(3n, { hashes: [deadc0de], mask })
    assert.equal(bytesToHex(get), `f503f3e1a0${bytesToHex(deadc0de)}90${'81'.repeat(16)}`)
    assert.deepEqual(decodeGetCells(get), { id: 3n, query: { hashes: [deadc0de], mask } })
    const cell = new Uint8Array(CELL_SIZE).fill(7)
    const r = { hashes: [deadc0de, feedbeef], cells: [[cell], [cell, cell]], mask }
    assert.deepEqual(decodeCells(encodeCells(9n, r)), { id: 9n, response: r })
    assert.throws(() => encodeCells(9n, { ...r, cells: [[new Uint8Array(2047)]] }), RangeError)
    assert.throws(
      () => decodeCells(rlpEncode([9, [[deadc0de], [[new Uint8Array(2047)]], mask]])),
      /Cells.cells\[0\]\[0\]/,
    )
    assert.throws(() => decodeGetCells(rlpEncode([3, [[deadc0de], new Uint8Array(17)]])), DecodeError)
  })
})
