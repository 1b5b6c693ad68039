// Hostile input to the eth layer over a real connection: a raw RLPx peer (tests/helpers/raw-peer.ts) connects to
// our server running eth/69, then breaks the eth protocol in one way per test. Each time our side sends a
// Disconnect with geth's reason (DiscProtocolError for an undecodable message, DiscReadTimeout for a missing
// Status, DiscSubprotocolError for every other eth error, DiscUselessPeer when a transaction it delivers is unlike
// its announcement), reports why (peerEvents$ / PeerEvent), keeps running, and leaves no handle behind.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import {
  createEthProtocols,
  type EthPeerSetEvent,
  type EthProtocolsOptions,
  localStatus,
} from '../../actors/eth.ts'
import { bytesToHex } from '../../codecs/bytes.ts'
import {
  decodeGetReceipts70,
  decodeHashesRequest,
  ETH_MSG,
  type EthStatus69,
  encodeGetBlockHeaders,
  encodePooledTxHashes,
  encodeRawResponse,
  encodeReceipts70,
  encodeStatus,
  transactionInfo,
} from '../../codecs/eth.ts'
import { BASE_PROTOCOL_LENGTH, DiscReason, P2P_MSG } from '../../codecs/p2p.ts'
import { rlpEncode } from '../../codecs/rlp.ts'
import { mainnetAtPrague } from '../fixtures/eth-chain.ts'
import { assertNoLeaks, newKeys, resourceCounts } from '../helpers/peers.ts'
import { RawPeer } from '../helpers/raw-peer.ts'
import { makeEthNode, waitUntil } from './server-helpers.ts'

const baseline = resourceCounts()
const ETH = BASE_PROTOCOL_LENGTH // eth's offset: our server offers eth only
const chain = mainnetAtPrague()

/** Our server with eth, a raw peer through Hello (caps eth/`version`) that has read our Status; runs `body`. */
async function scene(
  body: (x: { raw: RawPeer; seen: EthPeerSetEvent[]; status: EthStatus69 }) => Promise<void>,
  ethOpts: Partial<EthProtocolsOptions> = {},
  version: 69 | 70 = 69,
): Promise<void> {
  const { node, seen } = makeEthNode(createEthProtocols({ chain, ...ethOpts }))
  await node.srv.start()
  const evil = newKeys()
  const raw = await RawPeer.dial(node.srv.self().tcp!, evil, node.srv.self().pubkey)
  try {
    raw.sendHello({
      version: 5,
      name: 'evil/v0',
      caps: [{ name: 'eth', version }],
      listenPort: 0,
      id: evil.pub,
    })
    assert.equal((await raw.read()).code, P2P_MSG.hello)
    raw.coder!.setSnappy(true)
    const ours = await raw.read()
    assert.equal(ours.code, ETH + ETH_MSG.status)
    await body({ raw, seen, status: localStatus(chain, version) as EthStatus69 })
    // the server runs on: the dropped peer is gone, nothing else changed
    await waitUntil(() => node.srv.peerCount() === 0, 5000, 'the peer is dropped')
  } finally {
    await raw.destroy()
    await node.srv.stop()
  }
}

const failure = (seen: EthPeerSetEvent[]) => {
  const e = seen.find((x) => x.type === 'handshakeFailed' || x.type === 'leave')
  return e && 'error' in e ? e.error : undefined
}

describe('hostile input: the eth protocol', () => {
  after(async () => {
    await assertNoLeaks(baseline)
  })

  it('an undecodable Status → DiscProtocolError', async () => {
    await scene(async ({ raw, seen }) => {
      raw.send(ETH + ETH_MSG.status, rlpEncode([69, 1]))
      assert.equal(await raw.readDisconnect(), DiscReason.ProtocolError)
      await waitUntil(() => failure(seen) !== undefined, 5000, 'handshakeFailed')
      assert.match(failure(seen)!.message, /^invalid message: \(code 0\)/)
    })
  })

  it('another message before the Status → DiscSubprotocolError', async () => {
    await scene(async ({ raw, seen }) => {
      raw.send(ETH + ETH_MSG.transactions, rlpEncode([]))
      assert.equal(await raw.readDisconnect(), DiscReason.SubprotocolError)
      await waitUntil(() => failure(seen) !== undefined, 5000, 'handshakeFailed')
      assert.equal(failure(seen)!.message, 'no status message: first msg has code 2 (!= 0)')
    })
  })

  it('a Status from another chain → DiscSubprotocolError', async () => {
    await scene(async ({ raw, status }) => {
      raw.send(ETH + ETH_MSG.status, encodeStatus(69, { ...status, genesis: new Uint8Array(32).fill(1) }))
      assert.equal(await raw.readDisconnect(), DiscReason.SubprotocolError)
    })
  })

  it('no Status within 5 s → DiscReadTimeout', async () => {
    await scene(async ({ raw, seen }) => {
      assert.equal(await raw.readDisconnect(), DiscReason.ReadTimeout)
      await waitUntil(() => failure(seen) !== undefined, 5000, 'handshakeFailed')
      assert.equal(failure(seen)!.message, 'read timeout')
    })
  })

  it('after the handshake: a response to no request → DiscSubprotocolError', async () => {
    await scene(async ({ raw, seen, status }) => {
      raw.send(ETH + ETH_MSG.status, encodeStatus(69, status))
      await waitUntil(() => seen.some((e) => e.type === 'join'), 5000, 'join')
      raw.send(ETH + ETH_MSG.blockHeaders, encodeRawResponse(42n, []))
      assert.equal(await raw.readDisconnect(), DiscReason.SubprotocolError)
      await waitUntil(() => failure(seen) !== undefined, 5000, 'leave')
      assert.equal(failure(seen)!.message, 'BlockHeaders: no matching request')
    })
  })

  it('after the handshake: an undecodable request → DiscProtocolError; a request is answered first', async () => {
    await scene(async ({ raw, seen, status }) => {
      raw.send(ETH + ETH_MSG.status, encodeStatus(69, status))
      await waitUntil(() => seen.some((e) => e.type === 'join'), 5000, 'join')
      raw.send(
        ETH + ETH_MSG.getBlockHeaders,
        encodeGetBlockHeaders(5n, { origin: { number: 1n }, amount: 1n, skip: 0n, reverse: false }),
      )
      const reply = await raw.read()
      assert.equal(reply.code, ETH + ETH_MSG.blockHeaders)
      raw.send(ETH + ETH_MSG.getBlockHeaders, rlpEncode([1, [1]]))
      assert.equal(await raw.readDisconnect(), DiscReason.ProtocolError)
    })
  })

  it("with a txPool: a delivery unlike the peer's announcement (geth's fetcher) → DiscUselessPeer", async () => {
    const tx = rlpEncode([9, 1, 21000, new Uint8Array(20), 0, new Uint8Array(0)])
    const { hash, size } = transactionInfo(tx)
    const added: string[] = []
    const txPool = {
      has: () => false,
      add: (txs: readonly { hash: Uint8Array }[]) => void added.push(...txs.map((t) => bytesToHex(t.hash))),
    }
    await scene(
      async ({ raw, seen, status }) => {
        raw.send(ETH + ETH_MSG.status, encodeStatus(69, status))
        await waitUntil(() => seen.some((e) => e.type === 'join'), 5000, 'join')
        // announced as a dynamic-fee transaction (type 2), delivered as a legacy one
        raw.send(
          ETH + ETH_MSG.newPooledTransactionHashes,
          encodePooledTxHashes({ types: Uint8Array.of(2), sizes: [size], hashes: [hash] }),
        )
        const req = await raw.read()
        assert.equal(req.code, ETH + ETH_MSG.getPooledTransactions)
        const { id, hashes } = decodeHashesRequest(req.payload)
        assert.deepEqual(hashes, [hash])
        raw.send(ETH + ETH_MSG.pooledTransactions, encodeRawResponse(id, [tx]))
        assert.equal(await raw.readDisconnect(), DiscReason.UselessPeer)
        assert.deepEqual(
          added,
          [bytesToHex(hash)],
          'the transaction itself still went to the pool, as in geth',
        )
      },
      { txPool },
    )
  })

  it('after the handshake: a code eth/69 has no handler for → DiscSubprotocolError', async () => {
    await scene(async ({ raw, seen, status }) => {
      raw.send(ETH + ETH_MSG.status, encodeStatus(69, status))
      await waitUntil(() => seen.some((e) => e.type === 'join'), 5000, 'join')
      raw.send(ETH + ETH_MSG.newBlock, rlpEncode([]))
      assert.equal(await raw.readDisconnect(), DiscReason.SubprotocolError)
      await waitUntil(() => failure(seen) !== undefined, 5000, 'leave')
      assert.equal(failure(seen)!.message, 'invalid message code: 7')
    })
  })
  it('eth/70: a Receipts reply marked incomplete but empty → DiscSubprotocolError; our request fails with it', async () => {
    await scene(
      async ({ raw, seen, status }) => {
        raw.send(ETH + ETH_MSG.status, encodeStatus(70, status))
        await waitUntil(() => seen.some((e) => e.type === 'join'), 5000, 'join')
        const join = seen.find((e) => e.type === 'join')!
        const asked = assert.rejects(
          join.peer.getReceipts([new Uint8Array(32).fill(1)]),
          /invalid empty receipt response with incomplete flag/,
        )
        const req = await raw.read()
        assert.equal(req.code, ETH + ETH_MSG.getReceipts)
        const { id, firstIndex } = decodeGetReceipts70(req.payload)
        assert.equal(firstIndex, 0n)
        raw.send(ETH + ETH_MSG.receipts, encodeReceipts70(id, true, []))
        assert.equal(await raw.readDisconnect(), DiscReason.SubprotocolError)
        await asked
        await waitUntil(() => failure(seen) !== undefined, 5000, 'leave')
        assert.equal(
          failure(seen)!.message,
          'invalid partial receipts: invalid empty receipt response with incomplete flag',
        )
      },
      {},
      70,
    )
  })
})
