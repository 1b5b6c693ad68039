// Transactions in the eth layer: the codecs (network encoding, hashes, announcements), the handler's checks and
// known set and send queues, and geth's broadcast plan (machines/eth-broadcast.ts).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { NEVER } from 'rxjs'
import { ETH_MAX_QUEUED_TXS, EthPeerHandler, type TxInfo } from '../../../actors/eth-handler.ts'
import {
  decodePooledTxHashes,
  decodeTransactions,
  ETH_MAX_TX_PACKET_SIZE,
  ETH_MSG,
  encodePooledTxHashes,
  encodeTransactions,
  transactionInfo,
} from '../../../codecs/eth.ts'
import { rlpEncode } from '../../../codecs/rlp.ts'
import { keccak256 } from '../../../crypto/keccak.ts'
import { type BroadcastPeer, directPeers, planBroadcast } from '../../../machines/eth-broadcast.ts'
import { EthError } from '../../../machines/eth-peer.machine.ts'
import { type Msg, MsgChannel } from '../../../machines/protocol.ts'

const legacy = (i: number, pad = 0) => rlpEncode([i, 1, 21000, new Uint8Array(20), 0, new Uint8Array(pad)])
/** a typed transaction as a list item: an RLP string of type || payload */
const typed = (type: number, i: number, pad = 0) =>
  rlpEncode(Uint8Array.from([type, ...rlpEncode([1, i, new Uint8Array(pad)])]))
const info = (rlp: Uint8Array): TxInfo => ({ ...transactionInfo(rlp), rlp })
const msg = (code: number, payload: Uint8Array): Msg => ({
  code,
  size: payload.length,
  payload,
  receivedAt: 0,
})

function setup(version: 68 | 69 = 69, acceptTxs?: () => boolean) {
  const sent: { code: number; payload: Uint8Array }[] = []
  const release: (() => void)[] = []
  const app = new MsgChannel()
  const h = new EthPeerHandler({
    version,
    rw: {
      messages$: NEVER,
      // each write completes when the test says so: one batch in flight at a time
      send: (code, payload) => {
        sent.push({ code, payload })
        return new Promise<void>((r) => release.push(r))
      },
    },
    app,
    ...(acceptTxs && { acceptTxs }),
  })
  const flush = async () => {
    while (release.length > 0) {
      release.shift()!()
      await new Promise((r) => setImmediate(r))
    }
  }
  return { h, sent, app, flush }
}

describe('eth transactions', () => {
  it('hashes and types a transaction from its network encoding', () => {
    const l = transactionInfo(legacy(1))
    assert.equal(l.type, 0)
    assert.deepEqual(l.hash, keccak256(legacy(1)))
    const t = typed(2, 1)
    const i = transactionInfo(t)
    assert.equal(i.type, 2)
    assert.equal(i.size, t.length - 1 - (t.length > 56 ? 1 : 0))
    assert.deepEqual(i.hash, keccak256(t.subarray(t.length - i.size)))
    assert.deepEqual(decodeTransactions(encodeTransactions([legacy(1), t])), [legacy(1), t])
    const a = { types: Uint8Array.of(0, 2), sizes: [100, 200], hashes: [l.hash, i.hash] }
    assert.deepEqual(decodePooledTxHashes(encodePooledTxHashes(a)), a)
  })

  it('checks incoming transactions and announcements as geth does, and marks them known', () => {
    const { h, app } = setup()
    assert.equal(h.handle(msg(ETH_MSG.transactions, encodeTransactions([legacy(1)]))), undefined)
    assert.ok(h.knows(keccak256(legacy(1))))
    const tooMany = encodeTransactions(Array.from({ length: 5001 }, (_, i) => legacy(i)))
    assert.equal((h.handle(msg(ETH_MSG.transactions, tooMany)) as EthError).message, 'too many transactions')
    const hash = new Uint8Array(32).fill(7)
    const ann = encodePooledTxHashes({ types: Uint8Array.of(2), sizes: [10, 20], hashes: [hash, hash] })
    assert.equal(
      (h.handle(msg(ETH_MSG.newPooledTransactionHashes, ann)) as EthError).message,
      'NewPooledTransactionHashes: invalid len of fields in 2 1 2',
    )
    const good = encodePooledTxHashes({ types: Uint8Array.of(2), sizes: [10], hashes: [hash] })
    assert.equal(h.handle(msg(ETH_MSG.newPooledTransactionHashes, good)), undefined)
    assert.ok(h.knows(hash))
    assert.equal(app.queued, 2)
    // block propagation is gone since the merge (eth/68 still has the codes)
    const h68 = setup(68).h
    assert.equal(
      (h68.handle(msg(ETH_MSG.newBlockHashes, rlpEncode([]))) as EthError).message,
      'block announcements disallowed',
    )
    assert.equal(
      (h68.handle(msg(ETH_MSG.newBlock, rlpEncode([]))) as EthError).message,
      'block broadcasts disallowed',
    )
  })

  it('ignores transaction messages while it does not accept transactions (geth AcceptTxs), before decoding', () => {
    let accept = false
    const { h, app } = setup(69, () => accept)
    assert.equal(h.handle(msg(ETH_MSG.transactions, Uint8Array.of(0xff))), undefined)
    assert.equal(
      h.handle(
        msg(
          ETH_MSG.newPooledTransactionHashes,
          encodePooledTxHashes({ types: Uint8Array.of(2), sizes: [1, 2], hashes: [] }),
        ),
      ),
      undefined,
    )
    assert.equal(app.queued, 0)
    assert.equal(h.knows(keccak256(legacy(1))), false)
    accept = true
    assert.equal(h.handle(msg(ETH_MSG.transactions, encodeTransactions([legacy(1)]))), undefined)
    assert.equal(app.queued, 1)
    assert.ok(h.handle(msg(ETH_MSG.transactions, Uint8Array.of(0xff))) instanceof EthError)
  })

  it('sends queued transactions in batches of up to 100 KiB, one batch in flight, and marks them known', async () => {
    const { h, sent, flush } = setup()
    const txs = Array.from({ length: 60 }, (_, i) => info(legacy(i, 4000)))
    h.sendTransactions(txs)
    assert.equal(sent.length, 1)
    await flush()
    const batches = sent.map((s) => decodeTransactions(s.payload).length)
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      60,
    )
    for (const s of sent.slice(0, -1)) assert.ok(s.payload.length >= ETH_MAX_TX_PACKET_SIZE)
    assert.ok(txs.every((t) => h.knows(t.hash)))
    h.announceTransactions([info(typed(3, 1))])
    await flush()
    const a = decodePooledTxHashes(sent.at(-1)!.payload)
    assert.deepEqual([...a.types], [3])
  })

  it('keeps the newest 4096 queued transactions', async () => {
    const { h, sent, flush } = setup()
    h.sendTransactions([info(legacy(0))]) // in flight
    const many = Array.from({ length: ETH_MAX_QUEUED_TXS + 10 }, (_, i) => info(legacy(i + 1)))
    h.sendTransactions(many)
    await flush()
    const got = sent.slice(1).flatMap((s) => decodeTransactions(s.payload))
    assert.equal(got.length, ETH_MAX_QUEUED_TXS)
    assert.deepEqual(got[0], many[10]!.rlp)
  })
})

describe('eth broadcast plan (geth BroadcastTransactions)', () => {
  const peers = (n: number, known: (i: number) => boolean = () => false): BroadcastPeer[] =>
    Array.from({ length: n }, (_, i) => ({ id: keccak256(Uint8Array.of(i)), knows: () => known(i) }))
  const key = new Uint8Array(16).fill(9)

  it('sends a small transaction whole to ⌈√n⌉ peers and announces it to the rest', () => {
    for (const n of [1, 2, 4, 9, 10, 50]) {
      const tx = info(legacy(n))
      const plan = planBroadcast([tx], peers(n), key)
      const direct = [...plan.values()].filter((p) => p.direct.length > 0).length
      const announced = [...plan.values()].filter((p) => p.announce.length > 0).length
      assert.equal(direct, Math.ceil(Math.sqrt(n)))
      assert.equal(direct + announced, n)
    }
  })

  it('only announces blob and large transactions; skips peers that know a transaction', () => {
    const plan = planBroadcast([info(typed(3, 1)), info(legacy(1, 5000))], peers(9), key)
    assert.ok([...plan.values()].every((p) => p.direct.length === 0 && p.announce.length === 2))
    const some = planBroadcast(
      [info(legacy(2))],
      peers(9, (i) => i % 2 === 0),
      key,
    )
    assert.deepEqual([...some.keys()].sort(), [1, 3, 5, 7])
  })

  it("ranks peers by a keyed hash of the sender: one sender's transactions go to the same peers", () => {
    const ps = peers(16)
    const sender = new Uint8Array(20).fill(1)
    const a = directPeers(ps, sender, key)
    const plan = planBroadcast(
      [1, 2, 3].map((i) => ({ ...info(legacy(i)), sender })),
      ps,
      key,
    )
    for (const [i, p] of plan) assert.equal(p.direct.length, a.has(i) ? 3 : 0)
    assert.notDeepEqual([...directPeers(ps, sender, new Uint8Array(16))].sort(), [...a].sort())
  })
})
