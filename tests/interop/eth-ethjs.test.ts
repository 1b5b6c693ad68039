// The eth/68 Status handshake against @ethereumjs/devp2p 10's own ETH protocol (its Status codec, network id,
// genesis and EIP-2124 fork id checks) on 127.0.0.1, both directions: ethjs dials our server, and our server
// dials ethjs as a static node. Both sides run mainnet at Prague (ethjs: @ethereumjs/common's default
// hardfork), so the fork ids match; each side sees the other's Status. Another network id is refused by our
// side with DiscSubprotocolError, as geth does. No handle is left.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import type { Peer } from '@ethereumjs/devp2p'
import { firstValueFrom } from 'rxjs'
import { filter } from 'rxjs/operators'
import { createEthProtocols, type EthPeerSetEvent } from '../../actors/eth.ts'
import { bytesToHex } from '../../codecs/bytes.ts'
import { DiscReason } from '../../codecs/p2p.ts'
import { uintToBytes } from '../../codecs/rlp.ts'
import { MAINNET_FORKS, mainnetAtPrague } from '../fixtures/eth-chain.ts'
import { assertNoLeaks, resourceCounts } from '../helpers/peers.ts'
import { makeNode } from '../integration/server-helpers.ts'
import { ethProtocol, peerClosed, startEthjsNode, withTimeout } from './ethjs-harness.ts'

const baseline = resourceCounts()
const ETHJS_HEAD = new Uint8Array(32).fill(0x44)

/** ethjs's side of the handshake: its Status out, the remote's as ethjs decoded it. */
function ethjsStatus(
  peer: Peer,
): Promise<{ chainId: Uint8Array; forkId: Uint8Array[]; genesisHash: Uint8Array }> {
  const eth = ethProtocol(peer)
  const got = withTimeout(
    new Promise<{ chainId: Uint8Array; forkId: Uint8Array[]; genesisHash: Uint8Array }>((resolve) =>
      eth.events.once('status', (s: { chainId: Uint8Array; forkId: Uint8Array[]; genesisHash: Uint8Array }) =>
        resolve(s),
      ),
    ),
    5000,
    'ethjs got no Status',
  )
  try {
    eth.sendStatus({ td: uintToBytes(1n), bestHash: ETHJS_HEAD, genesisHash: MAINNET_FORKS.genesisHash })
  } catch {
    // ethjs checks synchronously inside sendStatus when the remote Status came first
  }
  return got
}

const joinOf = (events: EthPeerSetEvent[]) => events.find((e) => e.type === 'join')

describe('eth/68 Status handshake with @ethereumjs/devp2p', () => {
  after(async () => {
    await assertNoLeaks(baseline)
  })

  for (const direction of ['ethjs dials us', 'we dial ethjs'] as const) {
    it(`${direction}: both sides accept the other's Status`, async () => {
      const eth = createEthProtocols({ chain: mainnetAtPrague() })
      const seen: EthPeerSetEvent[] = []
      eth.peerEvents$.subscribe((e) => seen.push(e))
      const ours = makeNode({ protocols: eth.protocols })
      await ours.srv.start()
      const ethjs = await startEthjsNode({ realEth: true })
      try {
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
      } finally {
        await ethjs.close()
        await ours.srv.stop()
      }
      assert.ok(joinOf(seen))
    })
  }

  it('another network id: our side refuses with DiscSubprotocolError', async () => {
    const eth = createEthProtocols({ chain: mainnetAtPrague({ networkId: 5n }) })
    const seen: EthPeerSetEvent[] = []
    eth.peerEvents$.subscribe((e) => seen.push(e))
    const ours = makeNode({ protocols: eth.protocols })
    await ours.srv.start()
    const ethjs = await startEthjsNode({ realEth: true })
    try {
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
    } finally {
      await ethjs.close()
      await ours.srv.stop()
    }
  })
})
