// The eth Status handshake between two of our servers on 127.0.0.1 (actors/eth.ts over createServer): eth/72
// is negotiated when both speak it, a lower version when one side has only that (eth/68 down to it); both peers
// join the eth peer set with the other's Status; requests are answered in each version's layout (eth/70's partial
// receipts joined across replies, eth/71's block access lists, eth/72's cells); transactions are broadcast whole to ⌈√n⌉ peers and announced to the rest,
// and with a txPool the announced ones are fetched by geth's transaction fetcher; block ranges are announced; a
// genesis mismatch drops the peer on both sides with DiscSubprotocolError (geth's reason for a failed eth
// handshake) and nobody joins. No handle is left.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { firstValueFrom } from 'rxjs'
import { filter } from 'rxjs/operators'
import { createEthProtocols, type EthPeer } from '../../actors/eth.ts'
import { bytesToHex, equalBytes } from '../../codecs/bytes.ts'
import { transactionInfo } from '../../codecs/eth.ts'
import { DiscReason } from '../../codecs/p2p.ts'
import { rlpEncode, rlpEncodeRawList } from '../../codecs/rlp.ts'
import { mainnetAtPrague, PRAGUE_HEAD, syntheticChain } from '../fixtures/eth-chain.ts'
import { assertNoLeaks, resourceCounts } from '../helpers/peers.ts'
import { makeEthNode, waitUntil } from './server-helpers.ts'

const baseline = resourceCounts()

type EthNode = ReturnType<typeof makeEthNode>

/** `b` dials `a`; resolves with b's eth peer for a once the handshake is through. */
async function dialAndJoin(a: EthNode, b: EthNode): Promise<EthPeer> {
  const joined = firstValueFrom(b.eth.peerEvents$.pipe(filter((e) => e.type === 'join')))
  b.node.srv.addPeer(a.node.enode())
  const j = await joined
  assert.ok(j.type === 'join')
  return j.peer
}

describe('eth handshake between two of our nodes', () => {
  after(async () => {
    await assertNoLeaks(baseline)
  })

  it('negotiates eth/72 and both peers join with the remote Status', async () => {
    const a = makeEthNode(createEthProtocols({ chain: mainnetAtPrague() }))
    const b = makeEthNode(createEthProtocols({ chain: mainnetAtPrague() }))
    await Promise.all([a.node.srv.start(), b.node.srv.start()])
    try {
      const joined = Promise.all(
        [a, b].map((x) => firstValueFrom(x.eth.peerEvents$.pipe(filter((e) => e.type === 'join')))),
      )
      b.node.srv.addPeer(a.node.enode())
      const [ja, jb] = await joined
      assert.equal(ja.peer.version, 72)
      assert.equal(jb.peer.version, 72)
      assert.equal(ja.peer.idHex, b.node.id())
      const st = jb.peer.status as { latest: bigint; latestHash: Uint8Array; networkId: bigint }
      assert.equal(st.networkId, 1n)
      assert.equal(st.latest, PRAGUE_HEAD.number)
      assert.deepEqual(st.latestHash, PRAGUE_HEAD.hash)
      assert.equal(a.eth.peers().length, 1)
      // an eth message after the Status reaches the other side's stream
      const got = firstValueFrom(ja.peer.messages$)
      await jb.peer.send(0x02, Uint8Array.of(0xc0))
      const m = await got
      assert.equal(m.code, 0x02)
    } finally {
      await Promise.all([a.node.srv.stop(), b.node.srv.stop()])
    }
    assert.deepEqual(
      a.seen.map((e) => e.type),
      ['join', 'leave'],
    )
    assert.equal(a.eth.peers().length, 0)
  })

  for (const version of [72, 70, 69] as const)
    it(`answers header, body and receipt requests from the chain (eth/${version})`, async () => {
      const { blocks, reader } = syntheticChain(300)
      const a = makeEthNode(createEthProtocols({ chain: mainnetAtPrague({ reader }) }))
      const b = makeEthNode(createEthProtocols({ chain: mainnetAtPrague(), versions: [version] }))
      await Promise.all([a.node.srv.start(), b.node.srv.start()])
      try {
        const peer = await dialAndJoin(a, b)
        assert.equal(peer.version, version)
        const headers = await peer.getBlockHeaders({
          origin: { number: 100n },
          amount: 5n,
          skip: 0n,
          reverse: false,
        })
        assert.deepEqual(
          headers,
          blocks.slice(100, 105).map((x) => x.header),
        )
        const back = await peer.getBlockHeaders({
          origin: { hash: blocks[50]!.hash },
          amount: 3n,
          skip: 9n,
          reverse: true,
        })
        assert.deepEqual(back, [blocks[50]!.header, blocks[40]!.header, blocks[30]!.header])
        const hashes = [blocks[7]!.hash, new Uint8Array(32).fill(5), blocks[8]!.hash]
        assert.deepEqual(await peer.getBlockBodies(hashes), [blocks[7]!.body, blocks[8]!.body])
        // from eth/69 on, a block the server lacks ends the receipts reply
        assert.deepEqual(await peer.getReceipts(hashes), [blocks[7]!.receipts])
        assert.deepEqual(await peer.getReceipts([blocks[7]!.hash, blocks[8]!.hash]), [
          blocks[7]!.receipts,
          blocks[8]!.receipts,
        ])
        assert.deepEqual(await peer.getPooledTransactions([blocks[7]!.hash]), [])
        // and the other way: b has no chain reader, so its replies are empty
        const ja = a.eth.peers()[0]!
        assert.deepEqual(
          await ja.getBlockHeaders({ origin: { number: 0n }, amount: 1n, skip: 0n, reverse: false }),
          [],
        )
        assert.deepEqual(peer.blockRange(), {
          earliest: 0n,
          latest: PRAGUE_HEAD.number,
          latestHash: PRAGUE_HEAD.hash,
        })
      } finally {
        await Promise.all([a.node.srv.stop(), b.node.srv.stop()])
      }
    })

  it('eth/70: receipts too large for one reply come in parts and are joined; eth/71 block access lists; eth/72 cells', async () => {
    // block 0: one small receipt; block 1: four receipts of 3 MiB of log data each (zeros: snappy makes them
    // small on the wire); block 2: one small receipt. The first reply is cut after block 1's third receipt
    const MiB = 1024 * 1024
    const receipt = (logBytes: number) => rlpEncode([Uint8Array.of(2), 1, 21000, [new Uint8Array(logBytes)]])
    const lists = [[receipt(8)], [1, 2, 3, 4].map(() => receipt(3 * MiB)), [receipt(8)]].map((l) =>
      rlpEncodeRawList(l),
    )
    const hashOf = (i: number) => new Uint8Array(32).fill(i + 1)
    const bal = rlpEncode([[new Uint8Array(20).fill(0xaa), []]])
    const reads: number[] = []
    const reader = {
      headerByNumber: () => undefined,
      headerByHash: () => undefined,
      receipts: (h: Uint8Array) => {
        reads.push(h[0]! - 1)
        return lists[h[0]! - 1]
      },
      blockAccessList: (h: Uint8Array) => (h[0] === 1 ? bal : undefined),
    }
    const a = makeEthNode(createEthProtocols({ chain: mainnetAtPrague({ reader }) }))
    const b = makeEthNode(createEthProtocols({ chain: mainnetAtPrague() }))
    await Promise.all([a.node.srv.start(), b.node.srv.start()])
    try {
      const peer = await dialAndJoin(a, b)
      assert.equal(peer.version, 72)
      const got = await peer.getReceipts([hashOf(0), hashOf(1), hashOf(2)], 30_000, [
        21_000n,
        10n ** 9n,
        21_000n,
      ])
      // the follow-up brings block 1's last 3 MiB receipt, and the 2 MiB soft limit ends that reply there: the
      // caller gets blocks 0 and 1 whole and asks again for the rest, as geth's downloader does
      assert.equal(got.length, 2)
      for (let i = 0; i < 2; i++) assert.ok(equalBytes(got[i]!, lists[i]!), `block ${i}'s receipts`)
      assert.deepEqual(await peer.getReceipts([hashOf(2)]), [lists[2]])
      // the server read block 1 twice: for the cut reply and for the follow-up from its fourth receipt on
      assert.deepEqual(reads, [0, 1, 1, 2])
      assert.deepEqual(await peer.getBlockAccessLists([hashOf(0), hashOf(1)]), [bal, undefined])
      const mask = new Uint8Array(16).fill(0xff)
      assert.deepEqual(await peer.getCells({ hashes: [hashOf(0)], mask }), { hashes: [], cells: [], mask })
      // the peer stays
      assert.equal(a.eth.peers().length, 1)
    } finally {
      await Promise.all([a.node.srv.stop(), b.node.srv.stop()])
    }
  })

  it('broadcasts a transaction whole to ⌈√n⌉ peers and announces it to the rest, who can fetch it', async () => {
    const { reader, pool } = syntheticChain(1)
    const tx = rlpEncode([9, 1, 21000, new Uint8Array(20), 0, new Uint8Array(0)])
    const { hash } = transactionInfo(tx)
    pool.set(bytesToHex(hash), tx)
    const a = makeEthNode(createEthProtocols({ chain: mainnetAtPrague({ reader }) }))
    const others = [0, 1, 2].map(() => makeEthNode(createEthProtocols({ chain: mainnetAtPrague() })))
    await Promise.all([a, ...others].map((x) => x.node.srv.start()))
    try {
      const got: { node: number; code: number }[] = []
      const peersOfA = others.map((o, i) =>
        firstValueFrom(o.eth.peerEvents$.pipe(filter((e) => e.type === 'join'))).then((j) => {
          assert.ok(j.type === 'join')
          j.peer.messages$.subscribe((m) => got.push({ node: i, code: m.code }))
          return j.peer
        }),
      )
      for (const o of others) o.node.srv.addPeer(a.node.enode())
      const toA = await Promise.all(peersOfA)
      await waitUntil(() => a.eth.peers().length === 3, 10_000, 'a has three eth peers')
      a.eth.broadcastTransactions([tx])
      await waitUntil(() => got.length === 3, 10_000, 'three peers hear of the transaction')
      assert.equal(got.filter((g) => g.code === 0x02).length, 2)
      const announced = got.find((g) => g.code === 0x08)!
      assert.deepEqual(await toA[announced.node]!.getPooledTransactions([hash]), [tx])
      // a second broadcast of the same transaction reaches nobody: every peer knows it
      a.eth.broadcastTransactions([tx])
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(got.length, 3)
    } finally {
      await Promise.all([a, ...others].map((x) => x.node.srv.stop()))
    }
  })

  it("with a txPool, geth's fetcher gets the announced transactions (blob ones, and others after 500 ms)", async () => {
    const { reader, pool: served } = syntheticChain(1)
    const tx = rlpEncode([9, 1, 21000, new Uint8Array(20), 0, new Uint8Array(0)])
    // a blob transaction (type 3) is never broadcast whole, only announced
    const blob = rlpEncode(Uint8Array.of(3, ...rlpEncode([1, 2, new Uint8Array(64)])))
    for (const t of [tx, blob]) served.set(bytesToHex(transactionInfo(t).hash), t)
    const a = makeEthNode(createEthProtocols({ chain: mainnetAtPrague({ reader }) }))
    const pools = [0, 1, 2].map(() => new Map<string, { type: number; at: number; from: string }>())
    const registries = pools.map(() => new Registry())
    const others = pools.map((p, i) =>
      makeEthNode(
        createEthProtocols({
          chain: mainnetAtPrague(),
          metrics: registries[i]!,
          txPool: {
            has: (h) => p.has(bytesToHex(h)),
            add: (txs, from) => {
              for (const t of txs) p.set(bytesToHex(t.hash), { type: t.type, at: performance.now(), from })
            },
          },
        }),
      ),
    )
    await Promise.all([a, ...others].map((x) => x.node.srv.start()))
    try {
      const messages: number[] = []
      const joins = others.map((o) =>
        firstValueFrom(o.eth.peerEvents$.pipe(filter((e) => e.type === 'join'))).then((j) => {
          assert.ok(j.type === 'join')
          j.peer.messages$.subscribe((m) => messages.push(m.code))
        }),
      )
      for (const o of others) o.node.srv.addPeer(a.node.enode())
      await Promise.all(joins)
      await waitUntil(() => a.eth.peers().length === 3, 10_000, 'a has three eth peers')
      const sent = performance.now()
      a.eth.broadcastTransactions([tx, blob])
      await waitUntil(() => pools.every((p) => p.size === 2), 10_000, 'every pool has both transactions')
      const aId = a.node.id()
      for (const p of pools) {
        assert.equal(p.get(bytesToHex(transactionInfo(blob).hash))!.type, 3)
        assert.ok([...p.values()].every((e) => e.from === aId))
      }
      // two peers got tx whole; the third was told of it and fetched it only once its 500 ms wait ran out (less the
      // 100 ms gather slack) — a lower bound, so a loaded machine cannot break it
      const fetched = pools.map((p) => p.get(bytesToHex(transactionInfo(tx).hash))!.at - sent)
      assert.ok(
        fetched.some((ms) => ms >= 400),
        `arrival times ${fetched.map(Math.round)}`,
      )
      assert.deepEqual(messages, [], 'transactions and announcements went to the pool, not to messages$')
      // geth's fetcher meters, summed over the three: tx whole to two, announced to one; blob announced to all
      const sum = async (name: string) => {
        let n = 0
        for (const r of registries)
          n += (await r.getSingleMetric(`eth_fetcher_transaction_${name}`)!.get()).values[0]!.value
        return n
      }
      assert.deepEqual(
        await Promise.all(
          [
            'broadcasts_in',
            'announces_in',
            'request_out',
            'replies_in',
            'request_done',
            'fetching_hashes',
          ].map(sum),
        ),
        [2, 4, 4, 4, 4, 0],
      )
    } finally {
      await Promise.all([a, ...others].map((x) => x.node.srv.stop()))
    }
  })

  it("announces the head's block range to eth/69 peers every 32 blocks, and at once when it moves back", async () => {
    const head = { number: 1000n, hash: new Uint8Array(32).fill(1), time: PRAGUE_HEAD.time }
    const base = mainnetAtPrague()
    const moving = { ...base, head: () => head }
    const a = makeEthNode(createEthProtocols({ chain: moving }))
    const b = makeEthNode(createEthProtocols({ chain: mainnetAtPrague() }))
    await Promise.all([a.node.srv.start(), b.node.srv.start()])
    try {
      const peer = await dialAndJoin(a, b)
      assert.equal(peer.blockRange()?.latest, 1000n)
      const moveTo = (n: bigint) => {
        head.number = n
        head.hash = new Uint8Array(32).fill(Number(n % 250n) + 1)
        a.eth.headChanged()
      }
      moveTo(1031n)
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(peer.blockRange()?.latest, 1000n, 'not yet: 31 blocks')
      moveTo(1032n)
      await waitUntil(() => peer.blockRange()?.latest === 1032n, 5000, 'the update after 32 blocks')
      assert.deepEqual(peer.blockRange()?.latestHash, head.hash)
      moveTo(1020n)
      await waitUntil(() => peer.blockRange()?.latest === 1020n, 5000, 'the update when the head moved back')
    } finally {
      await Promise.all([a.node.srv.stop(), b.node.srv.stop()])
    }
  })

  it('falls back to eth/68 when one side has only that', async () => {
    const a = makeEthNode(createEthProtocols({ chain: mainnetAtPrague(), versions: [68] }))
    const b = makeEthNode(createEthProtocols({ chain: mainnetAtPrague() }))
    await Promise.all([a.node.srv.start(), b.node.srv.start()])
    try {
      const peer = await dialAndJoin(a, b)
      assert.equal(peer.version, 68)
      assert.equal((peer.status as { td: bigint }).td, 0n)
    } finally {
      await Promise.all([a.node.srv.stop(), b.node.srv.stop()])
    }
  })

  it('drops a peer on another genesis with DiscSubprotocolError on both sides', async () => {
    const a = makeEthNode(createEthProtocols({ chain: mainnetAtPrague() }))
    const b = makeEthNode(
      createEthProtocols({ chain: mainnetAtPrague({ genesisHash: new Uint8Array(32).fill(0x99) }) }),
    )
    await Promise.all([a.node.srv.start(), b.node.srv.start()])
    try {
      b.node.srv.addPeer(a.node.enode())
      await waitUntil(
        () => a.node.events.some((e) => e.type === 'drop') && b.node.events.some((e) => e.type === 'drop'),
        10_000,
        'both sides drop the peer',
      )
      // geth's PeerEvent carries the reason's text; the eth layer says which check failed
      const drops = [...a.node.events, ...b.node.events].filter((e) => e.type === 'drop')
      assert.deepEqual(
        drops.map((e) => (e as { error?: string }).error),
        ['subprotocol error', 'subprotocol error'],
      )
      const failed = [...a.seen, ...b.seen]
      assert.ok(failed.length > 0 && failed.every((e) => e.type === 'handshakeFailed'))
      for (const e of failed)
        if (e.type === 'handshakeFailed') {
          assert.match(e.error.message, /^genesis mismatch: /)
          assert.equal(e.error.reason, DiscReason.SubprotocolError)
        }
    } finally {
      await Promise.all([a.node.srv.stop(), b.node.srv.stop()])
    }
  })
})
