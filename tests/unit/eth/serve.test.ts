// machines/eth-serve.ts: geth's header walks and serving limits over a synthetic chain.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { equalBytes } from '../../../codecs/bytes.ts'
import { ETH_SERVE, type HeadersQuery } from '../../../codecs/eth.ts'
import { rlpDecodeRawList, rlpEncode, rlpEncodeRawList } from '../../../codecs/rlp.ts'
import {
  type EthChainReader,
  serveBlockAccessLists,
  serveBodies,
  serveHeaders,
  servePartialReceipts,
  servePooledTransactions,
  serveReceipts,
} from '../../../machines/eth-serve.ts'
import { type SyntheticBlock, syntheticChain } from '../../fixtures/eth-chain.ts'

const { blocks, reader, pool } = syntheticChain(3000)
const numbersOf = (items: Uint8Array[]) =>
  items.map((h) => blocks.findIndex((b: SyntheticBlock) => b.header === h))
const q = (origin: HeadersQuery['origin'], amount: number, skip = 0, reverse = false): HeadersQuery => ({
  origin,
  amount: BigInt(amount),
  skip: BigInt(skip),
  reverse,
})

describe('eth serving (geth handlers.go)', () => {
  it('walks headers by number and by hash, forward and reverse, with skip', () => {
    assert.deepEqual(numbersOf(serveHeaders(reader, q({ number: 10n }, 3))), [10, 11, 12])
    assert.deepEqual(numbersOf(serveHeaders(reader, q({ number: 10n }, 3, 0, true))), [10, 9, 8])
    assert.deepEqual(numbersOf(serveHeaders(reader, q({ number: 10n }, 3, 4))), [10, 15, 20])
    assert.deepEqual(numbersOf(serveHeaders(reader, q({ number: 10n }, 5, 4, true))), [10, 5, 0])
    assert.deepEqual(numbersOf(serveHeaders(reader, q({ hash: blocks[7]!.hash }, 2))), [7, 8])
    assert.deepEqual(numbersOf(serveHeaders(reader, q({ hash: blocks[7]!.hash }, 2, 1, true))), [7, 5])
  })

  it('stops at the head, at an unknown origin, on overflow, and answers amount 0 with nothing', () => {
    assert.deepEqual(numbersOf(serveHeaders(reader, q({ number: 2998n }, 5))), [2998, 2999])
    assert.deepEqual(serveHeaders(reader, q({ number: 5000n }, 5)), [])
    assert.deepEqual(serveHeaders(reader, q({ hash: new Uint8Array(32).fill(9) }, 5)), [])
    assert.deepEqual(serveHeaders(reader, q({ number: 1n }, 0)), [])
    const huge: HeadersQuery = { origin: { number: 2n }, amount: 3n, skip: (1n << 64n) - 2n, reverse: false }
    assert.deepEqual(numbersOf(serveHeaders(reader, huge)), [2])
  })

  it('caps at 1024 headers; only a query with skip also stops at 2 MiB', () => {
    assert.equal(serveHeaders(reader, q({ number: 0n }, 2000)).length, ETH_SERVE.maxHeaders)
    // headers of ~4 kB: 1024 of them are over 2 MiB
    const big = syntheticChain(1500, 4000)
    assert.equal(serveHeaders(big.reader, q({ number: 0n }, 1100)).length, 1024)
    // with skip the walk stops once 2 MiB are in (checked before each header)
    const got = serveHeaders(big.reader, q({ number: 0n }, 700, 1))
    const size = got.reduce((s, h) => s + h.length, 0)
    assert.ok(size >= ETH_SERVE.softResponseLimit && size - got.at(-1)!.length < ETH_SERVE.softResponseLimit)
    assert.ok(got.length < 700)
  })

  it('skips unknown hashes in bodies, eth/68 receipts and pooled transactions; eth/69+ receipts stop there', () => {
    const unknown = new Uint8Array(32).fill(1)
    const hashes = [blocks[1]!.hash, unknown, blocks[2]!.hash]
    assert.deepEqual(serveBodies(reader, hashes), [blocks[1]!.body, blocks[2]!.body])
    assert.deepEqual(serveReceipts(reader, hashes, 68), [blocks[1]!.receipts, blocks[2]!.receipts])
    // geth v1.17.5: a block without receipts ends the reply (replies stay aligned with the request)
    assert.deepEqual(serveReceipts(reader, hashes, 69), [blocks[1]!.receipts])
    assert.deepEqual(servePartialReceipts(reader, hashes, 0n, 70), {
      items: [blocks[1]!.receipts],
      incomplete: false,
    })
    pool.set('11'.repeat(32), Uint8Array.of(0xc1, 0x01))
    assert.deepEqual(servePooledTransactions(reader, [new Uint8Array(32).fill(0x11), unknown]), [
      Uint8Array.of(0xc1, 0x01),
    ])
    assert.deepEqual(
      serveBodies({ headerByNumber: () => undefined, headerByHash: () => undefined }, hashes),
      [],
    )
  })

  it('caps bodies at 1024 items and 2048 lookups', () => {
    const many = blocks.slice(0, 1500).map((b) => b.hash)
    assert.equal(serveBodies(reader, many).length, ETH_SERVE.maxBodies)
    const unknown = Array.from({ length: 3000 }, () => new Uint8Array(32).fill(3))
    const mixed = [...unknown.slice(0, 2048), blocks[5]!.hash]
    assert.deepEqual(serveBodies(reader, mixed), [])
    assert.deepEqual(serveBodies(reader, [...unknown.slice(0, 2047), blocks[5]!.hash]), [blocks[5]!.body])
  })

  // eth/70 (EIP-7975): blocks of receipts [type, status, gas, logs] with `sizes[i]` bytes of log data each
  const receiptsOf = (sizes: number[]) =>
    rlpEncodeRawList(
      sizes.map((n, i) => rlpEncode([Uint8Array.of(2), 1, 21000 * (i + 1), [new Uint8Array(n)]])),
    )
  const hashOf = (i: number) => new Uint8Array(32).fill(i + 1)
  const receiptsReader = (lists: Uint8Array[]): EthChainReader => ({
    headerByNumber: () => undefined,
    headerByHash: () => undefined,
    receipts: (h) => lists[h[0]! - 1],
  })
  const MiB = 1024 * 1024

  it('eth/70: the first block from firstBlockReceiptIndex on; other blocks whole', () => {
    const lists = [receiptsOf([10, 20, 30]), receiptsOf([40, 50])]
    const r = receiptsReader(lists)
    const hashes = [hashOf(0), hashOf(1)]
    assert.deepEqual(servePartialReceipts(r, hashes, 0n, 70), { items: lists, incomplete: false })
    const from1 = servePartialReceipts(r, hashes, 1n, 70)
    assert.deepEqual(from1.items[0], rlpEncodeRawList(rlpDecodeRawList(lists[0]!).slice(1)))
    assert.deepEqual(from1.items[1], lists[1])
    // an index past the block's receipts leaves its list empty
    assert.deepEqual(servePartialReceipts(r, hashes, 7n, 70).items[0], Uint8Array.of(0xc0))
  })

  it('eth/70: a block that would take the reply past 10 MiB is cut after the last receipt that fits', () => {
    // ½ MiB, then a block of four 3 MiB receipts: the reply holds ½ MiB + 3 × 3 MiB and is marked incomplete
    const lists = [receiptsOf([MiB / 2]), receiptsOf([3 * MiB, 3 * MiB, 3 * MiB, 3 * MiB]), receiptsOf([5])]
    const r = receiptsReader(lists)
    const hashes = [hashOf(0), hashOf(1), hashOf(2)]
    const got = servePartialReceipts(r, hashes, 0n, 70)
    assert.equal(got.incomplete, true)
    assert.equal(got.items.length, 2)
    assert.equal(rlpDecodeRawList(got.items[1]!).length, 3)
    assert.ok(got.items.reduce((n, x) => n + x.length, 0) <= ETH_SERVE.maxPacketSize)
    // the follow-up (geth requestPartialReceipts): the cut block from receipt 3 on; with 3 MiB in, the 2 MiB soft
    // limit ends the reply there, and the next request gets the last block
    const rest = servePartialReceipts(r, hashes.slice(1), 3n, 70)
    assert.equal(rest.incomplete, false)
    assert.equal(rest.items.length, 1)
    assert.ok(equalBytes(rest.items[0]!, rlpEncodeRawList(rlpDecodeRawList(lists[1]!).slice(3))))
    assert.deepEqual(servePartialReceipts(r, hashes.slice(2), 0n, 70), {
      items: [lists[2]],
      incomplete: false,
    })
    // a block whose first receipt does not fit is left out, and the reply ends complete before it
    const tooBig = receiptsReader([receiptsOf([2 * MiB]), receiptsOf([9 * MiB])])
    assert.deepEqual(servePartialReceipts(tooBig, [hashOf(0), hashOf(1)], 0n, 70).items.length, 1)
    assert.equal(servePartialReceipts(tooBig, [hashOf(0), hashOf(1)], 0n, 70).incomplete, false)
    // eth/69 has no parts: the 2 MiB soft limit only, whole blocks
    assert.equal(serveReceipts(r, hashes, 69).length, 2)
  })

  it('eth/71: one block access list per hash, the RLP empty string where we have none, within the limits', () => {
    const bal = rlpEncode([[new Uint8Array(20).fill(7), []]])
    const r: EthChainReader = {
      headerByNumber: () => undefined,
      headerByHash: () => undefined,
      blockAccessList: (h) => (h[0] === 1 ? bal : undefined),
    }
    assert.deepEqual(serveBlockAccessLists(r, [hashOf(0), hashOf(1), hashOf(0)]), [
      bal,
      Uint8Array.of(0x80),
      bal,
    ])
    assert.equal(
      serveBlockAccessLists(
        r,
        Array.from({ length: 1100 }, () => hashOf(1)),
      ).length,
      1024,
    )
    assert.deepEqual(serveBlockAccessLists(reader, [hashOf(0)]), [Uint8Array.of(0x80)])
  })
})
