// actors/eth-handler.ts: one eth peer's data plane — serving, geth's tracker rules for responses, our
// request timeouts, message checks — over a fake read-writer.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ETH_TRACKER_TIMEOUT_MS } from '../../../actors/eth-handler.ts'
import {
  decodeGetBlockHeaders,
  decodeRawResponse,
  ETH_MAX_MESSAGE_SIZE,
  ETH_MSG,
  encodeBlockRange,
  encodeGetBlockHeaders,
  encodeHashesRequest,
  encodeRawResponse,
} from '../../../codecs/eth.ts'
import { DiscReason } from '../../../codecs/p2p.ts'
import { rlpEncode } from '../../../codecs/rlp.ts'
import { protocolDiscReason } from '../../../machines/protocol.ts'
import { syntheticChain } from '../../fixtures/eth-chain.ts'
import { errorOf, fakeHandler, msg } from '../../helpers/eth-handler.ts'

const { blocks, reader } = syntheticChain(20)
const setup = (version: 68 | 69 = 68, withChain = true) =>
  fakeHandler(version, withChain ? reader : undefined)

describe('eth peer handler', () => {
  it('answers requests from the chain with the request id, empty without a chain', () => {
    const { h, sent } = setup()
    assert.equal(
      h.handle(
        msg(
          ETH_MSG.getBlockHeaders,
          encodeGetBlockHeaders(7n, { origin: { number: 3n }, amount: 2n, skip: 0n, reverse: false }),
        ),
      ),
      undefined,
    )
    assert.equal(h.handle(msg(ETH_MSG.getBlockBodies, encodeHashesRequest(8n, [blocks[4]!.hash]))), undefined)
    assert.equal(h.handle(msg(ETH_MSG.getReceipts, encodeHashesRequest(9n, [blocks[5]!.hash]))), undefined)
    assert.deepEqual(
      sent.map((s) => s.code),
      [ETH_MSG.blockHeaders, ETH_MSG.blockBodies, ETH_MSG.receipts],
    )
    assert.deepEqual(decodeRawResponse(sent[0]!.payload), {
      id: 7n,
      items: [blocks[3]!.header, blocks[4]!.header],
    })
    assert.deepEqual(decodeRawResponse(sent[1]!.payload), { id: 8n, items: [blocks[4]!.body] })
    assert.deepEqual(decodeRawResponse(sent[2]!.payload), { id: 9n, items: [blocks[5]!.receipts] })
    const bare = setup(68, false)
    bare.h.handle(msg(ETH_MSG.getPooledTransactions, encodeHashesRequest(1n, [blocks[1]!.hash])))
    assert.deepEqual(decodeRawResponse(bare.sent[0]!.payload), { id: 1n, items: [] })
  })

  it('settles a request with its response and keeps other messages for the application', async () => {
    const { h, sent, app } = setup()
    const p = h.request(
      ETH_MSG.getBlockHeaders,
      (id) => encodeGetBlockHeaders(id, { origin: { number: 1n }, amount: 2n, skip: 0n, reverse: false }),
      2,
    )
    const { id } = decodeGetBlockHeaders(sent[0]!.payload)
    assert.equal(h.handle(msg(ETH_MSG.blockHeaders, encodeRawResponse(id, [blocks[1]!.header]))), undefined)
    assert.deepEqual(await p, [blocks[1]!.header])
    const tx = msg(ETH_MSG.transactions, rlpEncode([]))
    assert.equal(h.handle(tx), undefined)
    assert.equal(app.queued, 1)
  })

  it("drops the peer on geth's tracker errors: unrequested, wrong code, too many items, expired", async () => {
    const { h, sent, advance } = setup()
    const unrequested = errorOf(h.handle(msg(ETH_MSG.blockBodies, encodeRawResponse(5n, []))))
    assert.equal(unrequested.message, 'BlockBodies: no matching request')
    assert.equal(protocolDiscReason(unrequested), DiscReason.SubprotocolError)
    const p = h.request(ETH_MSG.getBlockBodies, (id) => encodeHashesRequest(id, [blocks[1]!.hash]), 1)
    const { id } = decodeRawResponse(sent[0]!.payload)
    assert.equal(
      errorOf(h.handle(msg(ETH_MSG.receipts, encodeRawResponse(id, [])))).message,
      'Receipts: wrong response code for request',
    )
    assert.equal(
      errorOf(h.handle(msg(ETH_MSG.blockBodies, encodeRawResponse(id, [blocks[1]!.body, blocks[2]!.body]))))
        .message,
      'BlockBodies: response is larger than request allows',
    )
    advance(ETH_TRACKER_TIMEOUT_MS)
    assert.equal(
      errorOf(h.handle(msg(ETH_MSG.blockBodies, encodeRawResponse(id, [])))).ethCode,
      'NO_MATCHING_REQUEST',
    )
    // the caller still waiting on the expired request gets its timeout
    await assert.rejects(p, (e: unknown) => errorOf(e).ethCode === 'REQUEST_TIMEOUT')
    const q = h.request(ETH_MSG.getBlockBodies, (i) => encodeHashesRequest(i, []), 0)
    h.close()
    await assert.rejects(q, /SHUTTING_DOWN/)
  })

  it('times a request out without dropping the peer; its late response is dropped silently', async () => {
    const { h, sent } = setup()
    const p = h.request(ETH_MSG.getReceipts, (id) => encodeHashesRequest(id, [blocks[1]!.hash]), 1, 20)
    await assert.rejects(p, (e: unknown) => errorOf(e).ethCode === 'REQUEST_TIMEOUT')
    const { id } = decodeRawResponse(sent[0]!.payload)
    assert.equal(h.handle(msg(ETH_MSG.receipts, encodeRawResponse(id, []))), undefined)
    // answered once: a second copy is unrequested
    assert.equal(
      errorOf(h.handle(msg(ETH_MSG.receipts, encodeRawResponse(id, [])))).ethCode,
      'NO_MATCHING_REQUEST',
    )
  })

  it('checks every message: extra Status, size, codes per version, decoding, block ranges', () => {
    const { h } = setup(69)
    assert.equal(errorOf(h.handle(msg(ETH_MSG.status, Uint8Array.of(0xc0)))).message, 'extra status message')
    const big = { ...msg(ETH_MSG.transactions, Uint8Array.of(0xc0)), size: ETH_MAX_MESSAGE_SIZE + 1 }
    assert.match(errorOf(h.handle(big)).message, /^message too long: /)
    assert.equal(
      errorOf(h.handle(msg(ETH_MSG.newBlock, Uint8Array.of(0xc0)))).message,
      'invalid message code: 7',
    )
    assert.equal(errorOf(h.handle(msg(0x0b, Uint8Array.of(0xc0)))).ethCode, 'INVALID_MSG_CODE')
    const bad = errorOf(h.handle(msg(ETH_MSG.getBlockHeaders, Uint8Array.of(0xc0))))
    assert.equal(protocolDiscReason(bad), DiscReason.ProtocolError)
    const range = { earliest: 0n, latest: 9n, latestHash: blocks[9]!.hash }
    assert.equal(h.handle(msg(ETH_MSG.blockRangeUpdate, encodeBlockRange(range))), undefined)
    assert.deepEqual(h.range, range)
    const backwards = errorOf(
      h.handle(msg(ETH_MSG.blockRangeUpdate, encodeBlockRange({ ...range, earliest: 10n }))),
    )
    assert.equal(backwards.message, 'invalid block range in status: earliest > latest')
    // eth/68 has no BlockRangeUpdate
    assert.equal(
      errorOf(setup(68).h.handle(msg(ETH_MSG.blockRangeUpdate, encodeBlockRange(range)))).ethCode,
      'INVALID_MSG_CODE',
    )
  })
})
