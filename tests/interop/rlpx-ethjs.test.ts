// Interop on 127.0.0.1 with @ethereumjs/devp2p 10 (issue 3 "Proof"), in both directions — ethjs dials us, we
// dial ethjs: the ECIES handshake, Hello (each side sees the other's name, caps and id; snappy on), eth/68
// Status payloads and other sub-protocol messages as raw bytes at the right offsets (several capabilities
// laid out by name), a 1 MiB message each way, Ping/Pong both ways, and Disconnect with a reason received
// correctly on each side (ethjs sends its Disconnect uncompressed as a bare integer). Every test closes its
// sockets, servers and timers (checked with assertNoLeaks).
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { describe, it } from 'node:test'
import type { Peer } from '@ethereumjs/devp2p'
import { filter, firstValueFrom } from 'rxjs'
import { type PeerSession, startPeer } from '../../actors/peer.ts'
import { hexToBytes } from '../../codecs/bytes.ts'
import { DiscReason, P2P_MSG } from '../../codecs/p2p.ts'
import { rlpEncode } from '../../codecs/rlp.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import type { PeerSnapshot } from '../../machines/peer.machine.ts'
import type { Msg, MsgReadWriter, PeerHandle, Protocol } from '../../machines/protocol.ts'
import { assertNoLeaks, dial, type Keys, listen, newKeys, resourceCounts } from '../helpers/peers.ts'
import {
  baseInbox,
  type EthjsCap,
  type EthjsNode,
  Inbox,
  peerClosed,
  rawProtocol,
  startEthjsNode,
  withTimeout,
} from './ethjs-harness.ts'

const OUR_NAME = 'devp2p-actors/interop'
const ETHJS_NAME = 'ethjs-interop/v10'
const ETH68: EthjsCap = { name: 'eth', version: 68, length: 17 }
const SNAP1: EthjsCap = { name: 'snap', version: 1, length: 8 }
const MAINNET_GENESIS = hexToBytes('d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3')

/** An eth/68 Status `[version, networkid, td, head, genesis, forkid]` as raw bytes. */
function status68(td: bigint, head: Uint8Array): Uint8Array {
  return rlpEncode([68, 1, td, head, MAINNET_GENESIS, [hexToBytes('9f3d2254'), 0]])
}

/** Our side of one capability: records every message from the moment the peer runs; stays up until EOF. */
interface Recorder {
  protocol: Protocol
  rw: Promise<MsgReadWriter>
  inbox: Inbox<Msg>
}

function recorder(cap: EthjsCap): Recorder {
  const inbox = new Inbox<Msg>()
  let give!: (rw: MsgReadWriter) => void
  const rw = new Promise<MsgReadWriter>((r) => {
    give = r
  })
  return {
    rw,
    inbox,
    protocol: {
      ...cap,
      run: (_peer, r) =>
        new Promise<void>((resolve) => {
          r.messages$.subscribe({
            next: (m) => inbox.push(m),
            complete: () => resolve(),
            error: () => resolve(),
          })
          give(r)
        }),
    },
  }
}

type Direction = 'ethjs dials us' | 'we dial ethjs'
const DIRECTIONS: Direction[] = ['ethjs dials us', 'we dial ethjs']

interface Setup {
  ethjs: EthjsNode
  /** ethjs's view of us */
  theirPeer: Peer
  session: PeerSession
  /** our view of ethjs, once running */
  handle: PeerHandle<PeerSnapshot>
  ours: Keys
  recorders: Record<string, Recorder>
  /** disconnect whatever is still up, wait for our socket to close, stop ethjs and our listener */
  close(): Promise<void>
}

interface SetupOptions {
  ourCaps?: EthjsCap[]
  theirCaps?: EthjsCap[]
  /** our ping interval (ms) */
  ping?: number
}

async function setup(direction: Direction, opts: SetupOptions = {}): Promise<Setup> {
  const ours = newKeys()
  const recorders: Record<string, Recorder> = {}
  for (const c of opts.ourCaps ?? [ETH68]) recorders[c.name] = recorder(c)
  const protocols = Object.values(recorders).map((r) => r.protocol)
  const timeouts = opts.ping !== undefined ? { ping: opts.ping } : undefined
  const ethjs = await startEthjsNode({
    caps: opts.theirCaps ?? [ETH68],
    clientId: ETHJS_NAME,
    listen: direction === 'we dial ethjs',
  })
  let session: PeerSession
  let closeListener = async () => {}
  let theirPeer: Peer
  if (direction === 'ethjs dials us') {
    const l = await listen()
    closeListener = l.close
    const accepted = l.accept()
    const dialled = ethjs.dial(ours.pub, l.port)
    const socket: Socket = await accepted
    session = startPeer({ socket, privateKey: ours.priv, protocols, name: OUR_NAME, timeouts })
    theirPeer = await dialled
  } else {
    session = startPeer({
      socket: dial(ethjs.port),
      privateKey: ours.priv,
      dialDest: { id: keccak256(ethjs.pubkey), pubkey: ethjs.pubkey },
      protocols,
      name: OUR_NAME,
      timeouts,
    })
    theirPeer = await ethjs.peerOf(ours.pub)
  }
  const handle = await withTimeout(session.ready, 5000, 'our peer did not reach running')
  return {
    ethjs,
    theirPeer,
    session,
    handle,
    ours,
    recorders,
    async close() {
      session.disconnect(DiscReason.Quitting)
      await withTimeout(session.closed, 5000, 'our peer did not close')
      await ethjs.close()
      await closeListener()
    },
  }
}

/** Run `body` with a fresh setup, always closing it, then check nothing is left open. */
async function withSetup(
  direction: Direction,
  opts: SetupOptions,
  body: (s: Setup) => Promise<void>,
): Promise<void> {
  const base = resourceCounts()
  const s = await setup(direction, opts)
  try {
    await body(s)
  } finally {
    await s.close()
  }
  await assertNoLeaks(base)
}

for (const direction of DIRECTIONS) {
  const inbound = direction === 'ethjs dials us'
  describe(`interop with @ethereumjs/devp2p: ${direction}`, () => {
    it('completes the handshake; each side sees the other Hello (name, caps, id) and snappy is on', () =>
      withSetup(direction, {}, async ({ handle, session, theirPeer, ethjs, ours }) => {
        assert.equal(handle.name, ETHJS_NAME)
        assert.deepEqual(handle.caps, ['eth/68'])
        assert.deepEqual(handle.pubkey, ethjs.pubkey)
        assert.deepEqual(handle.id, keccak256(ethjs.pubkey))
        assert.equal(handle.inbound, inbound)
        assert.equal(session.inbound, inbound)
        assert.equal(session.connection.snappy, true)
        assert.ok(session.actor.getSnapshot().matches('running'))
        const hello = theirPeer.getHelloMessage()
        assert.ok(hello)
        assert.equal(hello.protocolVersion, 5)
        assert.equal(hello.clientId, OUR_NAME)
        assert.deepEqual(
          hello.capabilities.map((c) => ({ name: c.name, version: c.version })),
          [{ name: 'eth', version: 68 }],
        )
        assert.deepEqual(new Uint8Array(hello.id), ours.pub)
        assert.deepEqual(new Uint8Array(theirPeer.getId() ?? []), ours.pub)
      }))

    it('exchanges eth/68 Status payloads as raw bytes both ways at offset 0x10, and the last eth code', () =>
      withSetup(direction, {}, async ({ recorders, theirPeer }) => {
        const rw = await recorders.eth.rw
        assert.equal((rw as MsgReadWriter & { offset?: number }).offset, 0x10)
        const theirEth = rawProtocol(theirPeer, 'eth')
        const ourStatus = status68(17_000_000_000_000_000_000_000n, new Uint8Array(32).fill(0xaa))
        const theirStatus = status68(58_750_003_716_598_352_816_469n, new Uint8Array(32).fill(0xbb))
        await rw.send(0x00, ourStatus)
        theirEth.send(0x00, theirStatus)
        const got = await theirEth.wait(0x00)
        assert.deepEqual(new Uint8Array(got.payload), ourStatus)
        const mine = await recorders.eth.inbox.wait((m) => m.code === 0x00)
        assert.deepEqual(mine.payload, theirStatus)
        assert.equal(mine.size, theirStatus.length)
        // code 16 is eth/68's last (absolute 0x20): in range for both
        await rw.send(16, Uint8Array.of(0xc3, 0x01, 0x02, 0x03))
        theirEth.send(16, Uint8Array.of(0xc1, 0x09))
        assert.deepEqual([...(await theirEth.wait(16)).payload], [0xc3, 0x01, 0x02, 0x03])
        assert.deepEqual([...(await recorders.eth.inbox.wait((m) => m.code === 16)).payload], [0xc1, 0x09])
      }))

    it('lays several capabilities out by name (eth at 0x10, snap at 0x21) like ethjs', () =>
      withSetup(
        direction,
        { ourCaps: [SNAP1, ETH68], theirCaps: [SNAP1, ETH68] },
        async ({ recorders, theirPeer, handle }) => {
          assert.deepEqual([...handle.caps].sort(), ['eth/68', 'snap/1'])
          const snap = await recorders.snap.rw
          assert.equal((snap as MsgReadWriter & { offset?: number }).offset, 0x21)
          const theirSnap = rawProtocol(theirPeer, 'snap')
          await snap.send(7, Uint8Array.of(0xc2, 0x05, 0x06))
          theirSnap.send(7, Uint8Array.of(0xc2, 0x07, 0x08))
          assert.deepEqual([...(await theirSnap.wait(7)).payload], [0xc2, 0x05, 0x06])
          assert.deepEqual(
            [...(await recorders.snap.inbox.wait((m) => m.code === 7)).payload],
            [0xc2, 0x07, 0x08],
          )
          // nothing leaked into eth on either side
          assert.equal(recorders.eth.inbox.all.length, 0)
          assert.equal(rawProtocol(theirPeer, 'eth').inbox.all.length, 0)
        },
      ))

    it('carries a 1 MiB message each way (many TCP chunks, snappy)', () =>
      withSetup(direction, {}, async ({ recorders, theirPeer }) => {
        const rw = await recorders.eth.rw
        const theirEth = rawProtocol(theirPeer, 'eth')
        const big = new Uint8Array(1 << 20)
        for (let i = 0; i < big.length; i += 4096) big.set(crypto.getRandomValues(new Uint8Array(2048)), i)
        await rw.send(5, big)
        theirEth.send(6, big)
        assert.deepEqual(new Uint8Array((await theirEth.wait(5, 10_000)).payload), big)
        assert.deepEqual((await recorders.eth.inbox.wait((m) => m.code === 6, 10_000)).payload, big)
      }))

    it('answers ethjs Pings with Pong, and our Pings get ethjs Pongs', () =>
      withSetup(direction, { ping: 100 }, async ({ session, theirPeer }) => {
        // our ping loop (100 ms here) → ethjs receives Ping and answers; we see the Pong on the connection
        const ourPong = firstValueFrom(
          session.connection.messages$.pipe(filter((m) => m.code === P2P_MSG.pong)),
        )
        await baseInbox(theirPeer).wait((m) => m.code === P2P_MSG.ping, 3000, 'Ping from us')
        await withTimeout(ourPong, 3000, 'no Pong from ethjs')
        // ethjs pings us: we answer Pong
        const pongs = () => baseInbox(theirPeer).all.filter((m) => m.code === P2P_MSG.pong).length
        const before = pongs()
        ;(theirPeer as unknown as { _sendPing(): void })._sendPing()
        await baseInbox(theirPeer).next((m) => m.code === P2P_MSG.pong, 3000, 'Pong from us')
        assert.equal(pongs(), before + 1)
        assert.equal(session.actor.getSnapshot().status, 'active')
      }))

    for (const reason of [
      DiscReason.Requested,
      DiscReason.TooManyPeers,
      DiscReason.Quitting,
      DiscReason.SubprotocolError,
    ]) {
      it(`reads ethjs's bare-integer Disconnect (reason ${reason}) and drops with it, requested by remote`, () =>
        withSetup(direction, {}, async ({ session, theirPeer }) => {
          const theirs = peerClosed(theirPeer)
          // what ethjs puts in the frame: a bare RLP integer, not snappy-compressed, although snappy is on
          const sent: [number, Uint8Array][] = []
          const p = theirPeer as unknown as { _sendMessage(code: number, data: Uint8Array): unknown }
          const send = p._sendMessage.bind(theirPeer)
          p._sendMessage = (code, data) => {
            sent.push([code, data])
            return send(code, data)
          }
          theirPeer.disconnect(reason as Parameters<Peer['disconnect']>[0])
          assert.deepEqual(
            sent.map(([c, d]) => [c, [...d]]),
            [[P2P_MSG.disconnect, [reason === 0 ? 0x80 : reason]]],
          )
          const out = await withTimeout(session.dropped, 5000, 'our peer did not drop')
          assert.equal(out.reason, reason)
          assert.equal(out.requestedByRemote, true)
          assert.deepEqual(await theirs, { reason, disconnectWe: true })
        }))
    }

    for (const reason of [DiscReason.TooManyPeers, DiscReason.Quitting, DiscReason.Requested]) {
      it(`sends Disconnect (reason ${reason}) that ethjs reads as such`, () =>
        withSetup(direction, {}, async ({ session, theirPeer }) => {
          const theirs = peerClosed(theirPeer)
          session.disconnect(reason)
          const out = await withTimeout(session.dropped, 5000, 'our peer did not drop')
          assert.deepEqual(
            { reason: out.reason, requestedByRemote: out.requestedByRemote },
            {
              reason,
              requestedByRemote: false,
            },
          )
          assert.deepEqual(await theirs, { reason, disconnectWe: false })
          const d = await baseInbox(theirPeer).wait((m) => m.code === P2P_MSG.disconnect)
          assert.equal(
            Number((d.payload as Uint8Array[])[0]?.[0] ?? 0),
            reason,
            'ethjs decoded our [reason] list',
          )
        }))
    }
  })
}

describe('interop with @ethereumjs/devp2p: no shared capability', () => {
  it('ethjs (eth/66 only) refuses us (eth/68) with UselessPeer after Hello; we drop with that reason', async () => {
    const base = resourceCounts()
    const ours = newKeys()
    const ethjs = await startEthjsNode({ caps: [{ name: 'eth', version: 66, length: 17 }] })
    const session = startPeer({
      socket: dial(ethjs.port),
      privateKey: ours.priv,
      dialDest: { id: keccak256(ethjs.pubkey), pubkey: ethjs.pubkey },
      protocols: [recorder(ETH68).protocol],
      name: OUR_NAME,
    })
    try {
      const out = await withTimeout(session.dropped, 5000, 'our peer did not drop')
      assert.equal(out.reason, DiscReason.UselessPeer)
      assert.equal(ethjs.added.all.length, 0)
    } finally {
      session.disconnect(DiscReason.Quitting)
      await session.closed
      await ethjs.close()
    }
    await assertNoLeaks(base)
  })
})
