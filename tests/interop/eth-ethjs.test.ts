// The eth/68 Status handshake against @ethereumjs/devp2p 10's own ETH protocol (its Status codec, network id,
// genesis and EIP-2124 fork id checks) on 127.0.0.1, both directions: ethjs dials our server, and our server
// dials ethjs as a static node. Both sides run mainnet at Prague (ethjs: @ethereumjs/common's default
// hardfork), so the fork ids match; each side sees the other's Status. Requests and transactions go both ways, and
// with a txPool our transaction fetcher gets an ethjs announcement from ethjs. Another network id is refused by
// our side with DiscSubprotocolError, as geth does. No handle is left.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import type { Peer } from '@ethereumjs/devp2p'
import { firstValueFrom } from 'rxjs'
import { filter } from 'rxjs/operators'
import {
  createEthProtocols,
  type EthChain,
  type EthPeer,
  type EthPeerSetEvent,
  type EthProtocols,
  type EthProtocolsOptions,
} from '../../actors/eth.ts'
import { bytesToHex } from '../../codecs/bytes.ts'
import { transactionInfo } from '../../codecs/eth.ts'
import { DiscReason } from '../../codecs/p2p.ts'
import { type RlpInput, rlpDecode, rlpEncode, uintToBytes } from '../../codecs/rlp.ts'
import { MAINNET_FORKS, mainnetAtPrague, syntheticChain } from '../fixtures/eth-chain.ts'
import { assertNoLeaks, resourceCounts } from '../helpers/peers.ts'
import { makeEthNode, type TestNode, waitUntil } from '../integration/server-helpers.ts'
import {
  ETHJS_HEAD,
  type EthjsNode,
  ethjsStatus,
  ethProtocol,
  peerClosed,
  startEthjsNode,
  withTimeout,
} from './ethjs-harness.ts'

const baseline = resourceCounts()

const joinOf = (events: EthPeerSetEvent[]) => events.find((e) => e.type === 'join')

/** The next eth message with `code` ethjs's ETH decoded (its payload as nested byte arrays). */
function ethjsMessage(peer: Peer, code: number): Promise<unknown[]> {
  const eth = ethProtocol(peer)
  return withTimeout(
    new Promise<unknown[]>((resolve) => {
      const on = (c: number, payload: unknown) => {
        if (c !== code) return
        eth.events.off('message', on)
        resolve(payload as unknown[])
      }
      eth.events.on('message', on)
    }),
    5000,
    `ethjs got no eth message ${code}`,
  )
}

interface Nodes {
  eth: EthProtocols
  /** our server */
  node: TestNode
  ethjs: EthjsNode
  /** our eth peer set's events */
  seen: EthPeerSetEvent[]
}

/** Our server with the eth protocols over `chain` and an ethjs node with its ETH; closes both after `body`. */
async function withNodes(
  chain: EthChain,
  body: (x: Nodes) => Promise<void>,
  ethOpts: Partial<EthProtocolsOptions> = {},
): Promise<void> {
  const { eth, node, seen } = makeEthNode(createEthProtocols({ chain, ...ethOpts }))
  await node.srv.start()
  const ethjs = await startEthjsNode({ realEth: true })
  try {
    await body({ eth, node, ethjs, seen })
  } finally {
    await ethjs.close()
    await node.srv.stop()
  }
}

/** withNodes, ethjs dialling us and both Status messages through: `body` gets both sides' peers. */
function withHandshake(
  chain: EthChain,
  body: (x: { eth: EthProtocols; peer: Peer; ours: EthPeer }) => Promise<void>,
  ethOpts: Partial<EthProtocolsOptions> = {},
): Promise<void> {
  return withNodes(
    chain,
    async ({ eth, node, ethjs }) => {
      const joined = firstValueFrom(eth.peerEvents$.pipe(filter((e) => e.type === 'join')))
      const peer = await ethjs.dial(node.srv.self().pubkey, node.srv.self().tcp!)
      await ethjsStatus(peer)
      const j = await withTimeout(joined, 5000, 'our side did not join the peer')
      assert.ok(j.type === 'join')
      await body({ eth, peer, ours: j.peer })
    },
    ethOpts,
  )
}

describe('eth/68 Status handshake with @ethereumjs/devp2p', () => {
  after(async () => {
    await assertNoLeaks(baseline)
  })

  for (const direction of ['ethjs dials us', 'we dial ethjs'] as const) {
    it(`${direction}: both sides accept the other's Status`, async () => {
      await withNodes(mainnetAtPrague(), async ({ eth, node: ours, ethjs, seen }) => {
        const joined = firstValueFrom(eth.peerEvents$.pipe(filter((e) => e.type === 'join')))
        let peer: Peer
        if (direction === 'ethjs dials us')
          peer = await ethjs.dial(ours.srv.self().pubkey, ours.srv.self().tcp!)
        else {
          ours.srv.addPeer(`enode://${bytesToHex(ethjs.pubkey)}@127.0.0.1:${ethjs.port}?discport=0`)
          peer = await ethjs.peerOf(ours.srv.self().pubkey, 10_000)
        }
        const theirs = await ethjsStatus(peer)
        const j = await withTimeout(joined, 5000, 'our side did not join the peer')
        assert.ok(j.type === 'join')
        // what ethjs saw of ours
        assert.deepEqual(theirs.chainId, Uint8Array.of(1))
        assert.deepEqual(theirs.genesisHash, MAINNET_FORKS.genesisHash)
        assert.equal(bytesToHex(theirs.forkId[0]!), 'c376cf8b')
        assert.equal(bytesToHex(theirs.forkId[1]!), '6930b057')
        // what we saw of ethjs's
        assert.equal(j.peer.version, 68)
        const st = j.peer.status as {
          networkId: bigint
          td: bigint
          head: Uint8Array
          forkId: { hash: Uint8Array }
        }
        assert.equal(st.networkId, 1n)
        assert.equal(st.td, 1n)
        assert.deepEqual(st.head, ETHJS_HEAD)
        assert.equal(bytesToHex(st.forkId.hash), 'c376cf8b')
        assert.equal(eth.peers().length, 1)
        assert.ok(joinOf(seen))
      })
    })
  }

  it('requests both ways: ethjs asks us for headers and bodies, we ask ethjs for headers', async () => {
    const { blocks, reader } = syntheticChain(64)
    await withHandshake(mainnetAtPrague({ reader }), async ({ peer, ours }) => {
      const ejs = ethProtocol(peer)
      // ethjs → us: GetBlockHeaders [id, [origin, amount, skip, reverse]] and GetBlockBodies [id, [hashes]]
      const headers = ethjsMessage(peer, 0x04)
      ejs.sendMessage(0x03, [
        uintToBytes(77n),
        [uintToBytes(10n), uintToBytes(3n), uintToBytes(1n), uintToBytes(0n)],
      ])
      const [hid, hs] = (await headers) as [Uint8Array, RlpInput[]]
      assert.deepEqual(hid, uintToBytes(77n))
      assert.deepEqual(
        hs.map((h) => rlpEncode(h)),
        [blocks[10]!.header, blocks[12]!.header, blocks[14]!.header],
      )
      const bodies = ethjsMessage(peer, 0x06)
      ejs.sendMessage(0x05, [uintToBytes(78n), [blocks[3]!.hash, new Uint8Array(32).fill(1)]])
      const [, bs] = (await bodies) as [Uint8Array, RlpInput[]]
      assert.deepEqual(
        bs.map((b) => rlpEncode(b)),
        [blocks[3]!.body],
      )
      // us → ethjs: ethjs has no chain behind it here, so the test answers for it
      const asked = ethjsMessage(peer, 0x03)
      const ours$ = ours.getBlockHeaders({
        origin: { hash: blocks[20]!.hash },
        amount: 2n,
        skip: 0n,
        reverse: true,
      })
      const [rid, query] = (await asked) as [Uint8Array, Uint8Array[]]
      assert.deepEqual(query[0], blocks[20]!.hash)
      ejs.sendMessage(0x04, [rid, [rlpDecode(blocks[20]!.header), rlpDecode(blocks[19]!.header)] as never])
      assert.deepEqual(await ours$, [blocks[20]!.header, blocks[19]!.header])
    })
  })

  it('transactions both ways: our broadcast reaches ethjs whole; its Transactions and announcements reach us', async () => {
    await withHandshake(mainnetAtPrague(), async ({ eth, peer, ours }) => {
      const tx = rlpEncode([1, 1, 21000, new Uint8Array(20), 0, new Uint8Array(0)])
      // one peer: ⌈√1⌉ = 1 gets it whole
      const txs = ethjsMessage(peer, 0x02)
      eth.broadcastTransactions([tx])
      const [first] = (await txs) as RlpInput[]
      assert.deepEqual(rlpEncode(first!), tx)
      const mine: number[] = []
      const two = new Promise<void>((resolve) =>
        ours.messages$.subscribe((m) => {
          mine.push(m.code)
          if (mine.length === 2) resolve()
        }),
      )
      const tx2 = rlpEncode([2, 1, 21000, new Uint8Array(20), 0, new Uint8Array(0)])
      ethProtocol(peer).sendMessage(0x02, [rlpDecode(tx2) as never])
      const h3 = new Uint8Array(32).fill(3)
      ethProtocol(peer).sendMessage(0x08, [Uint8Array.of(2), [uintToBytes(120n)], [h3]] as never)
      await withTimeout(two, 5000, 'our side got no transactions from ethjs')
      assert.deepEqual(mine, [0x02, 0x08])
    })
  })

  it("with a txPool: ethjs's announcement is fetched from ethjs by our transaction fetcher", async () => {
    const tx = rlpEncode([3, 1, 21000, new Uint8Array(20), 0, new Uint8Array(0)])
    const info = transactionInfo(tx)
    const added: Uint8Array[] = []
    const txPool = {
      has: () => false,
      add: (txs: readonly { rlp: Uint8Array }[]) => void added.push(...txs.map((t) => t.rlp)),
    }
    await withHandshake(
      mainnetAtPrague(),
      async ({ peer }) => {
        const request = ethjsMessage(peer, 0x09)
        ethProtocol(peer).sendMessage(0x08, [
          Uint8Array.of(info.type),
          [uintToBytes(BigInt(info.size))],
          [info.hash],
        ] as never)
        // after the 500 ms arrival wait, our fetcher asks ethjs (GetPooledTransactions, as ethjs decoded it)
        const [id, hashes] = (await request) as [Uint8Array, Uint8Array[]]
        assert.deepEqual(hashes, [info.hash])
        ethProtocol(peer).sendMessage(0x0a, [id, [rlpDecode(tx)]] as never)
        await waitUntil(() => added.length === 1, 5000, 'the fetched transaction in our pool')
        assert.deepEqual(added, [tx])
      },
      { txPool },
    )
  })

  it('another network id: our side refuses with DiscSubprotocolError', async () => {
    await withNodes(mainnetAtPrague({ networkId: 5n }), async ({ node: ours, ethjs, seen }) => {
      const peer = await ethjs.dial(ours.srv.self().pubkey, ours.srv.self().tcp!)
      const closed = peerClosed(peer)
      try {
        ethProtocol(peer).sendStatus({
          td: uintToBytes(1n),
          bestHash: ETHJS_HEAD,
          genesisHash: MAINNET_FORKS.genesisHash,
        })
      } catch {
        // ethjs's own check may throw here (another network id): our side decides first either way
      }
      const c = await closed
      assert.equal(c.reason, DiscReason.SubprotocolError)
      const failed = seen.find((e) => e.type === 'handshakeFailed')
      assert.ok(failed?.type === 'handshakeFailed')
      assert.match(failed.error.message, /^network ID mismatch: 1 \(!= 5\)$/)
      assert.equal(joinOf(seen), undefined)
    })
  })
})
