// actors/eth-handler.ts for eth/70–72 (geth v1.17.5): eth/70's partial receipts both ways (serving, and joining
// the parts of our requests with geth's checks of a cut block; a property test cuts random chains at random packet
// sizes, fast-check with a fixed seed), eth/71's block access lists and eth/72's cells and announcement mask, over a
// fake read-writer.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  CELL_SIZE,
  decodeCells,
  decodeGetCells,
  decodeGetReceipts70,
  decodeHashesRequest,
  decodePooledTxHashes,
  decodeRawResponse,
  decodeReceipts70,
  ETH_MSG,
  type EthVersion,
  encodeCells,
  encodeGetCells,
  encodeGetReceipts70,
  encodeHashesRequest,
  encodePooledTxHashes,
  encodeRawResponse,
  encodeReceipts70,
} from '../../../codecs/eth.ts'
import { rlpDecodeRawList, rlpEncode, rlpEncodeRawList } from '../../../codecs/rlp.ts'
import { type EthChainReader, servePartialReceipts } from '../../../machines/eth-serve.ts'
import { errorOf, fakeHandler, msg } from '../../helpers/eth-handler.ts'

/** A receipt [type, status, cumulative gas, logs] with `logBytes` bytes of log data. */
const receipt = (i: number, logBytes = 4) =>
  rlpEncode([Uint8Array.of(2), 1, 21000 * (i + 1), [new Uint8Array(logBytes)]])
const hashOf = (i: number) => new Uint8Array(32).fill(i + 1)
const blocks = [[receipt(0), receipt(1)], [receipt(0), receipt(1), receipt(2)], [receipt(0)]]
const lists = blocks.map((b) => rlpEncodeRawList(b))
const reader: EthChainReader = {
  headerByNumber: () => undefined,
  headerByHash: () => undefined,
  receipts: (h) => lists[h[0]! - 1],
  blockAccessList: (h) => (h[0] === 1 ? rlpEncode([[new Uint8Array(20).fill(9), []]]) : undefined),
}

const setup = (version: EthVersion) => fakeHandler(version, reader)

/** Start a receipts request on `h` and return its promise and the id it went out with. */
function askReceipts(s: ReturnType<typeof setup>, hashes: Uint8Array[], gasUsed?: bigint[]) {
  const p = s.h.receipts(hashes, 10_000, gasUsed)
  const req = decodeGetReceipts70(s.sent.at(-1)!.payload)
  assert.equal(s.sent.at(-1)!.code, ETH_MSG.getReceipts)
  assert.equal(req.firstIndex, 0n)
  return { p, id: req.id }
}

describe('eth/70–72 in the peer handler', () => {
  it('eth/70 serves GetReceipts [id, firstBlockReceiptIndex, hashes] with Receipts [id, incomplete, lists]', () => {
    const { h, sent } = setup(70)
    assert.equal(
      h.handle(msg(ETH_MSG.getReceipts, encodeGetReceipts70(5n, 1n, [hashOf(1), hashOf(2)]))),
      undefined,
    )
    const r = decodeReceipts70(sent[0]!.payload)
    assert.equal(r.id, 5n)
    assert.equal(r.incomplete, false)
    assert.deepEqual(r.items, [rlpEncodeRawList(blocks[1]!.slice(1)), lists[2]])
    // eth/69's request layout is an invalid message on eth/70
    const bad = errorOf(h.handle(msg(ETH_MSG.getReceipts, encodeHashesRequest(6n, [hashOf(0)]))))
    assert.equal(bad.ethCode, 'INVALID_MESSAGE')
  })

  it('eth/70 joins a reply cut in a block with the rest it asks for under the same id', async () => {
    const s = setup(70)
    const hashes = [hashOf(0), hashOf(1), hashOf(2)]
    const { p, id } = askReceipts(s, hashes)
    // block 0 whole, block 1 cut after its first receipt
    const part = encodeReceipts70(id, true, [lists[0]!, rlpEncodeRawList(blocks[1]!.slice(0, 1))])
    assert.equal(s.h.handle(msg(ETH_MSG.receipts, part)), undefined)
    const next = decodeGetReceipts70(s.sent.at(-1)!.payload)
    assert.deepEqual(next, { id, firstIndex: 1n, hashes: [hashOf(1), hashOf(2)] })
    // the rest, cut again within block 1
    assert.equal(
      s.h.handle(
        msg(ETH_MSG.receipts, encodeReceipts70(id, true, [rlpEncodeRawList(blocks[1]!.slice(1, 2))])),
      ),
      undefined,
    )
    assert.deepEqual(decodeGetReceipts70(s.sent.at(-1)!.payload), {
      id,
      firstIndex: 2n,
      hashes: [hashOf(1), hashOf(2)],
    })
    const last = encodeReceipts70(id, false, [rlpEncodeRawList(blocks[1]!.slice(2)), lists[2]!])
    assert.equal(s.h.handle(msg(ETH_MSG.receipts, last)), undefined)
    assert.deepEqual(await p, lists)
    // the request is settled: another reply under its id is unrequested
    assert.equal(errorOf(s.h.handle(msg(ETH_MSG.receipts, last))).message, 'Receipts: no matching request')
  })

  it("eth/70 drops a peer whose parts break geth's rules, and rejects the request with the error", async () => {
    const cases: { reply: (id: bigint) => Uint8Array; gasUsed?: bigint[]; text: RegExp }[] = [
      {
        reply: (id) => encodeReceipts70(id, true, []),
        text: /^invalid partial receipts: invalid empty receipt response with incomplete flag$/,
      },
      {
        reply: (id) => encodeReceipts70(id, true, [lists[0]!, Uint8Array.of(0xc0)]),
        text: /block without receipts/,
      },
      {
        // block 0 used 21 000 gas: room for one transaction, and the cut part has two receipts
        reply: (id) => encodeReceipts70(id, true, [lists[0]!]),
        gasUsed: [21_000n, 1_000_000n],
        text: /total number of tx exceeded limit$/,
      },
      {
        // 4 MB of gas allows 500 000 log bytes, and the cut block's first receipt logs 600 000
        reply: (id) => encodeReceipts70(id, true, [rlpEncodeRawList([receipt(0, 600_000)])]),
        gasUsed: [4_000_000n],
        text: /total download receipt size exceeded the limit$/,
      },
    ]
    for (const c of cases) {
      const s = setup(71)
      const { p, id } = askReceipts(s, [hashOf(0), hashOf(1)], c.gasUsed)
      const rejected = assert.rejects(p, (e: unknown) => errorOf(e).ethCode === 'PARTIAL_RECEIPTS')
      const err = errorOf(s.h.handle(msg(ETH_MSG.receipts, c.reply(id))))
      assert.equal(err.ethCode, 'PARTIAL_RECEIPTS')
      assert.match(err.message, c.text)
      await rejected
    }
    // within the gas: asks for the rest
    const s = setup(70)
    const { p, id } = askReceipts(s, [hashOf(0), hashOf(1)], [2n * 21_000n, 3n * 21_000n])
    assert.equal(
      s.h.handle(
        msg(ETH_MSG.receipts, encodeReceipts70(id, true, [rlpEncodeRawList(blocks[0]!.slice(0, 1))])),
      ),
      undefined,
    )
    // the follow-up asks for two blocks: a reply with three lists is larger than it allows
    const tooMany = encodeReceipts70(id, false, [lists[0]!, lists[1]!, lists[2]!])
    assert.equal(
      errorOf(s.h.handle(msg(ETH_MSG.receipts, tooMany))).message,
      'Receipts: response is larger than request allows',
    )
    // the peer drops: the request fails with it
    s.h.close()
    await assert.rejects(p, /eth peer dropped/)
  })

  it('eth/70: a complete first reply and an empty one settle the request as they are', async () => {
    const s = setup(72)
    const a = askReceipts(s, [hashOf(0)])
    s.h.handle(msg(ETH_MSG.receipts, encodeReceipts70(a.id, false, [lists[0]!])))
    assert.deepEqual(await a.p, [lists[0]])
    const b = askReceipts(s, [hashOf(0)])
    s.h.handle(msg(ETH_MSG.receipts, encodeReceipts70(b.id, false, [])))
    assert.deepEqual(await b.p, [])
    // eth/69 asks in its own layout
    const old = setup(69)
    const c = old.h.receipts([hashOf(0)])
    const req = decodeHashesRequest(old.sent[0]!.payload)
    old.h.handle(msg(ETH_MSG.receipts, encodeRawResponse(req.id, [lists[0]!])))
    assert.deepEqual(await c, [lists[0]])
  })

  it('eth/71 serves and requests block access lists; older versions have neither', async () => {
    const { h, sent } = setup(71)
    assert.equal(
      h.handle(msg(ETH_MSG.getBlockAccessLists, encodeHashesRequest(3n, [hashOf(0), hashOf(1)]))),
      undefined,
    )
    assert.equal(sent[0]!.code, ETH_MSG.blockAccessLists)
    const served = decodeRawResponse(sent[0]!.payload)
    assert.deepEqual(served.items, [reader.blockAccessList!(hashOf(0)), Uint8Array.of(0x80)])
    const p = h.blockAccessLists([hashOf(0), hashOf(1)])
    const req = decodeHashesRequest(sent[1]!.payload)
    assert.equal(sent[1]!.code, ETH_MSG.getBlockAccessLists)
    h.handle(msg(ETH_MSG.blockAccessLists, encodeRawResponse(req.id, served.items)))
    assert.deepEqual(await p, [served.items[0], undefined])
    const old = setup(70)
    assert.equal(
      errorOf(old.h.handle(msg(ETH_MSG.getBlockAccessLists, encodeHashesRequest(1n, [])))).ethCode,
      'INVALID_MSG_CODE',
    )
    await assert.rejects(old.h.blockAccessLists([hashOf(0)]), (e: unknown) => {
      assert.equal(errorOf(e).ethCode, 'UNSUPPORTED_REQUEST')
      assert.match(String((e as Error).message), /GetBlockAccessLists needs eth\/71, the peer speaks eth\/70/)
      return true
    })
  })

  it('eth/72: announcements carry the custody mask; GetCells is answered with none; Cells settle a request', async () => {
    const { h, sent } = setup(72)
    const tx = rlpEncode([1, 1, 21000, new Uint8Array(20), 0, new Uint8Array(0)])
    h.announceTransactions([{ hash: hashOf(7), type: 0, size: tx.length, rlp: tx }])
    await new Promise((r) => setImmediate(r))
    const ann = decodePooledTxHashes(sent[0]!.payload, 72)
    assert.deepEqual(ann.mask, new Uint8Array(16))
    assert.equal(rlpDecodeRawList(sent[0]!.payload).length, 4)
    // an announcement without the mask is an invalid message on eth/72, and one with it on eth/71
    const three = encodePooledTxHashes({ types: Uint8Array.of(0), sizes: [1], hashes: [hashOf(1)] }, 71)
    assert.equal(errorOf(h.handle(msg(ETH_MSG.newPooledTransactionHashes, three))).ethCode, 'INVALID_MESSAGE')
    const four = encodePooledTxHashes({ types: Uint8Array.of(0), sizes: [1], hashes: [hashOf(1)] }, 72)
    assert.equal(h.handle(msg(ETH_MSG.newPooledTransactionHashes, four)), undefined)
    assert.equal(
      errorOf(setup(71).h.handle(msg(ETH_MSG.newPooledTransactionHashes, four))).ethCode,
      'INVALID_MESSAGE',
    )

    const mask = new Uint8Array(16).fill(0x0f)
    h.handle(msg(ETH_MSG.getCells, encodeGetCells(4n, { hashes: [hashOf(1)], mask })))
    assert.equal(sent[1]!.code, ETH_MSG.cells)
    assert.deepEqual(decodeCells(sent[1]!.payload), { id: 4n, response: { hashes: [], cells: [], mask } })

    const p = h.cells({ hashes: [hashOf(2)], mask })
    const req = decodeGetCells(sent[2]!.payload)
    assert.deepEqual(req.query, { hashes: [hashOf(2)], mask })
    const cell = new Uint8Array(CELL_SIZE).fill(5)
    const response = { hashes: [hashOf(2)], cells: [[cell, cell]], mask }
    assert.equal(h.handle(msg(ETH_MSG.cells, encodeCells(req.id, response))), undefined)
    assert.deepEqual(await p, response)
    // more transactions' cells than asked for
    const q = h.cells({ hashes: [hashOf(2)], mask })
    const id2 = decodeGetCells(sent[3]!.payload).id
    const over = { hashes: [hashOf(2), hashOf(3)], cells: [[cell], [cell]], mask }
    assert.equal(
      errorOf(h.handle(msg(ETH_MSG.cells, encodeCells(id2, over)))).message,
      'Cells: response is larger than request allows',
    )
    h.close()
    await assert.rejects(q)
    await assert.rejects(
      setup(71).h.cells({ hashes: [], mask }),
      (e: unknown) => errorOf(e).ethCode === 'UNSUPPORTED_REQUEST',
    )
  })
  it('eth/70: any chain served in parts of any size is joined back whole, block for block (property)', async () => {
    // blocks of 0–6 receipts with 0–300 log bytes each; the server's packet limit from the largest receipt up
    let cut = 0
    const chain = fc.array(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 6 }), {
      minLength: 1,
      maxLength: 8,
    })
    await fc.assert(
      fc.asyncProperty(chain, fc.integer({ min: 0, max: 2000 }), async (sizes, extra) => {
        const blocks = sizes.map((b) => b.map((n, i) => receipt(i, n)))
        const encoded = blocks.map((b) => rlpEncodeRawList(b))
        const r: EthChainReader = {
          headerByNumber: () => undefined,
          headerByHash: () => undefined,
          receipts: (h) => encoded[h[0]! - 1],
        }
        const limit = Math.max(0, ...blocks.flat().map((x) => x.length)) + extra
        const s = setup(70)
        const hashes = blocks.map((_, i) => hashOf(i))
        const p = s.h.receipts(
          hashes,
          10_000,
          blocks.map((b) => BigInt(b.length) * 21_000n + 10n ** 9n),
        )
        let settled = false
        p.then(
          () => (settled = true),
          () => (settled = true),
        )
        // the server side: answer every request the handler sends, until it settles (bounded)
        let replies = 0
        for (let served = 0; !settled && served < 200; ) {
          if (s.sent.length > served) {
            const req = decodeGetReceipts70(s.sent[served++]!.payload)
            const reply = servePartialReceipts(r, req.hashes, req.firstIndex, 70, limit)
            const bad = s.h.handle(
              msg(ETH_MSG.receipts, encodeReceipts70(req.id, reply.incomplete, reply.items)),
            )
            assert.equal(bad, undefined)
            replies++
          }
          await new Promise((res) => setImmediate(res))
        }
        const got = await p
        // a prefix of the chain, each block whole: a reply ends before a block whose first receipt does not fit
        assert.ok(got.length >= 1 && got.length <= blocks.length)
        for (let i = 0; i < got.length; i++) assert.deepEqual(got[i], encoded[i], `block ${i}`)
        if (replies > 1) cut++
        // with room for the whole chain in one packet, one reply brings it all
        const total = encoded.reduce((n, x) => n + x.length, 0)
        if (limit >= total) assert.equal(got.length, blocks.length)
      }),
      { numRuns: 200, seed: 20261125 },
    )
    // the property is not vacuous: most runs needed follow-ups
    assert.ok(cut > 100, `${cut} of 200 runs were cut`)
  })
})
