// machines/eth-serve.ts: geth's header walks and serving limits over a synthetic chain.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ETH_SERVE, type HeadersQuery } from '../../../codecs/eth.ts'
import {
  serveBodies,
  serveHeaders,
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

  it('skips unknown hashes in bodies, receipts and pooled transactions', () => {
    const unknown = new Uint8Array(32).fill(1)
    const hashes = [blocks[1]!.hash, unknown, blocks[2]!.hash]
    assert.deepEqual(serveBodies(reader, hashes), [blocks[1]!.body, blocks[2]!.body])
    assert.deepEqual(serveReceipts(reader, hashes, 69), [blocks[1]!.receipts, blocks[2]!.receipts])
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
})
