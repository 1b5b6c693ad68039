// Hostile input against our peer (actors/peer.ts over a real socket), driven by a raw RLPx endpoint built from
// our own codecs (tests/helpers/raw-peer.ts). Every case ends in `dropped` with the reason geth's behaviour
// implies (via the peer machine and classify()) and leaves no socket or timer behind.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, it } from 'node:test'
import { type PeerSession, startPeer } from '../../actors/peer.ts'
import { DecodeError } from '../../codecs/errors.ts'
import { DiscReason, encodeDisconnect, encodeHello, type Hello, P2P_MSG } from '../../codecs/p2p.ts'
import { FrameCoder } from '../../codecs/rlpx-frame.ts'
import { createAuth, initiatorSecrets, readAck } from '../../codecs/rlpx-handshake.ts'
import {
  assertNoLeaks,
  dial,
  echoProtocol,
  type Keys,
  type Listener,
  listen,
  newKeys,
  type PeerOptions,
  resourceCounts,
} from '../helpers/peers.ts'
import { RawPeer } from '../helpers/raw-peer.ts'

// The handshake deadline is what two tests check (SHORT); elsewhere it and the Hello deadline only bound a test
// that goes wrong, so they are wide enough for a loaded machine (building a 16 MiB frame takes seconds there).
const SHORT = { handshake: 200, hello: 1_000 }
const FAST = { handshake: 10_000, hello: 10_000 }

/** Whatever a test opened, closed after it even when an assertion failed (else the process never exits). */
const opened: { raw?: RawPeer; peer?: PeerSession; l?: Listener }[] = []
afterEach(async () => {
  const all = opened.splice(0)
  const cleanup = Promise.all(
    all.map(async ({ raw, peer, l }) => {
      peer?.disconnect(DiscReason.Requested)
      await raw?.destroy()
      await peer?.closed
      await l?.close()
    }),
  )
  await Promise.race([cleanup, new Promise((r) => setTimeout(r, 5_000).unref())])
})

interface Scene {
  l: Listener
  raw: RawPeer
  peer: PeerSession
  ours: Keys
  evil: Keys
  base: Record<string, number>
  /** the peer's output, then sockets closed, then the leak check */
  finish(): Promise<void>
}

/** Our peer accepts a connection from a raw hostile socket. */
async function inbound(opts: PeerOptions = {}): Promise<Scene> {
  const base = resourceCounts()
  const l = await listen()
  const ours = newKeys()
  const evil = newKeys()
  const raw = new RawPeer(dial(l.port))
  const peer = startPeer({ timeouts: FAST, ...opts, socket: await l.accept(), privateKey: ours.priv })
  opened.push({ raw, peer, l })
  return {
    l,
    raw,
    peer,
    ours,
    evil,
    base,
    finish: async () => {
      await peer.closed
      await raw.destroy()
      await l.close()
      await assertNoLeaks(base)
    },
  }
}

const helloOf = (id: Uint8Array, over: Partial<Hello> = {}): Hello => ({
  version: 5,
  name: 'evil/v0',
  caps: [{ name: 'foo', version: 1 }],
  listenPort: 0,
  id,
  ...over,
})

/** Handshake and Hello honestly; returns once our peer runs and the raw side reads with snappy. */
async function toRunning(s: Scene, hello: Partial<Hello> = {}): Promise<void> {
  await s.raw.initiate(s.evil, s.ours.pub)
  s.raw.sendHello(helloOf(s.evil.pub, hello))
  const theirs = await s.raw.read()
  assert.equal(theirs.code, P2P_MSG.hello)
  s.raw.coder!.setSnappy((hello.version ?? 5) >= 5)
  await s.peer.ready
}

async function expectDrop(s: Scene, reason: number, requestedByRemote = false): Promise<unknown> {
  const out = await s.peer.dropped
  assert.equal(out.reason, reason, `reason ${out.reason} (${String(out.error)})`)
  assert.equal(out.requestedByRemote, requestedByRemote)
  return out.error
}

describe('hostile input: ECIES handshake', () => {
  it('garbage instead of auth → ProtocolError, nothing written back', async () => {
    const s = await inbound()
    s.raw.write(Uint8Array.of(0x01, 0x90, ...randomBytes(400)))
    const err = await expectDrop(s, DiscReason.ProtocolError)
    assert.ok(err instanceof DecodeError && err.code === 'ECIES_FAILED')
    assert.deepEqual(await s.raw.readUntilClose().catch(() => []), [])
    assert.equal(s.peer.connection.egressBytes, 0)
    await s.finish()
  })

  it('a size prefix too small for ECIES → ProtocolError at once', async () => {
    const s = await inbound()
    s.raw.write(Uint8Array.of(0x00, 0x10))
    const err = await expectDrop(s, DiscReason.ProtocolError)
    assert.ok(err instanceof DecodeError && err.code === 'AUTH_TOO_SMALL')
    await s.finish()
  })

  it('truncated auth then FIN → NetworkError', async () => {
    const s = await inbound()
    const { packet } = createAuth(s.evil.priv, s.ours.pub)
    s.raw.write(packet.subarray(0, packet.length >> 1))
    s.raw.socket.end()
    const err = await expectDrop(s, DiscReason.NetworkError)
    assert.equal((err as { code?: string }).code, 'EOF')
    await s.finish()
  })

  it('truncated auth then silence → ReadTimeout (handshake deadline)', async () => {
    const s = await inbound({ timeouts: SHORT })
    const { packet } = createAuth(s.evil.priv, s.ours.pub)
    s.raw.write(packet.subarray(0, 100))
    await expectDrop(s, DiscReason.ReadTimeout)
    await s.finish()
  })

  it('auth declaring > 2048 bytes → ProtocolError before the body arrives', async () => {
    const s = await inbound({ timeouts: { handshake: 5_000 } })
    s.raw.write(Uint8Array.of(0x08, 0x01, 1, 2, 3)) // 2049, and then nothing more
    const t0 = Date.now()
    const err = await expectDrop(s, DiscReason.ProtocolError)
    assert.ok(err instanceof DecodeError && err.code === 'AUTH_TOO_BIG')
    assert.ok(Date.now() - t0 < 1_000)
    await s.finish()
  })

  it('silence → ReadTimeout after the (shortened) 5 s handshake deadline', async () => {
    const s = await inbound({ timeouts: SHORT })
    const t0 = Date.now()
    await expectDrop(s, DiscReason.ReadTimeout)
    const took = Date.now() - t0
    assert.ok(took >= 150 && took < 1_000, `took ${took} ms`)
    await s.finish()
  })
})

describe('hostile input: fragmentation', () => {
  it('auth and Hello trickled in 1–7 byte pieces still reach running', async () => {
    const s = await inbound({ timeouts: { handshake: 5_000 } })
    const trickle = async (bytes: Uint8Array) => {
      for (let o = 0; o < bytes.length; ) {
        const n = 1 + Math.floor(Math.random() * 7)
        s.raw.write(bytes.subarray(o, o + n))
        o += n
        await new Promise((r) => setImmediate(r))
      }
    }
    // drive the handshake by hand so every byte goes through trickle()
    const { packet, state } = createAuth(s.evil.priv, s.ours.pub)
    await trickle(packet)
    const pending = s.raw.socket
    const ack = await new Promise<Uint8Array>((resolve) => {
      let buf = new Uint8Array(0)
      const onData = (c: Buffer) => {
        buf = Buffer.concat([buf, c])
        const len = buf.length >= 2 ? ((buf[0]! << 8) | buf[1]!) + 2 : Infinity
        if (buf.length >= len) {
          pending.off('data', onData)
          resolve(buf)
        }
      }
      pending.on('data', onData)
    })
    const len = ((ack[0]! << 8) | ack[1]!) + 2
    const coder = new FrameCoder(initiatorSecrets(state, readAck(s.evil.priv, ack.subarray(0, len))))
    await trickle(coder.encode(P2P_MSG.hello, encodeHello(helloOf(s.evil.pub))))
    const handle = await s.peer.ready
    assert.equal(handle.name, 'evil/v0')
    s.peer.disconnect(DiscReason.Requested)
    await expectDrop(s, DiscReason.Requested)
    await s.finish()
  })
})

describe('hostile input: frames', () => {
  it('bad header MAC → ProtocolError', async () => {
    const s = await inbound()
    await s.raw.initiate(s.evil, s.ours.pub)
    const f = s.raw.frame(P2P_MSG.hello, encodeHello(helloOf(s.evil.pub)))
    f[20]! ^= 0x40 // inside the header MAC
    s.raw.write(f)
    const err = await expectDrop(s, DiscReason.ProtocolError)
    assert.ok(err instanceof DecodeError && err.code === 'BAD_HEADER_MAC')
    await s.finish()
  })

  it('bad frame MAC → ProtocolError', async () => {
    const s = await inbound()
    await s.raw.initiate(s.evil, s.ours.pub)
    const f = s.raw.frame(P2P_MSG.hello, encodeHello(helloOf(s.evil.pub)))
    f[f.length - 3]! ^= 0x01
    s.raw.write(f)
    const err = await expectDrop(s, DiscReason.ProtocolError)
    assert.ok(err instanceof DecodeError && err.code === 'BAD_FRAME_MAC')
    await s.finish()
  })

  it('a header declaring the largest frame (2^24−1; 3 bytes cannot say more) then FIN → NetworkError', async () => {
    const s = await inbound()
    await s.raw.initiate(s.evil, s.ours.pub)
    const f = s.raw.frame(0x10, new Uint8Array(0xffffff - 1))
    s.raw.write(f.subarray(0, 32 + 4096))
    s.raw.socket.end()
    const err = await expectDrop(s, DiscReason.NetworkError)
    assert.equal((err as { code?: string }).code, 'EOF')
    await s.finish()
  })

  it('a frame above the connection’s maxFrameSize → ProtocolError (FRAME_TOO_BIG) before its body', async () => {
    const s = await inbound({ connection: { maxFrameSize: 1024 } })
    await s.raw.initiate(s.evil, s.ours.pub)
    const f = s.raw.frame(P2P_MSG.hello, encodeHello(helloOf(s.evil.pub, { name: 'x'.repeat(1500) })))
    s.raw.write(f.subarray(0, 32)) // the header alone is enough
    const err = await expectDrop(s, DiscReason.ProtocolError)
    assert.ok(err instanceof DecodeError && err.code === 'FRAME_TOO_BIG')
    await s.finish()
  })

  it('snappy payload declaring > 16 MiB decompressed → ProtocolError (MESSAGE_TOO_BIG, no allocation)', async () => {
    const s = await inbound()
    await toRunning(s)
    s.raw.coder!.setSnappy(false) // write the body raw: varint(2^24) then a few bytes
    s.raw.send(P2P_MSG.ping, Uint8Array.of(0x80, 0x80, 0x80, 0x08, 0x00, 0x01, 0x02))
    const err = await expectDrop(s, DiscReason.ProtocolError)
    assert.ok(err instanceof DecodeError && err.code === 'MESSAGE_TOO_BIG')
    await s.finish()
  })
})

describe('hostile input: Hello and messages', () => {
  for (const [label, id] of [
    ['65-byte', randomBytes(65)],
    ['2-byte', Uint8Array.of(1, 2)],
    ['all-zero', new Uint8Array(64)],
  ] as const) {
    it(`Hello with a ${label} id → InvalidIdentity`, async () => {
      const s = await inbound()
      await s.raw.initiate(s.evil, s.ours.pub)
      s.raw.sendHello(helloOf(id))
      const err = await expectDrop(s, DiscReason.InvalidIdentity)
      assert.ok(err instanceof DecodeError && err.code === 'INVALID_IDENTITY')
      await s.finish()
    })
  }

  it('Hello above 2048 bytes → ProtocolError', async () => {
    const s = await inbound()
    await s.raw.initiate(s.evil, s.ours.pub)
    s.raw.sendHello(helloOf(s.evil.pub, { name: 'x'.repeat(2100) }))
    const err = await expectDrop(s, DiscReason.ProtocolError)
    assert.ok(err instanceof DecodeError && err.code === 'MESSAGE_TOO_BIG')
    await s.finish()
  })

  it('a message other than Hello first → ProtocolError', async () => {
    const s = await inbound()
    await s.raw.initiate(s.evil, s.ours.pub)
    s.raw.send(P2P_MSG.ping, Uint8Array.of(0xc0))
    await expectDrop(s, DiscReason.ProtocolError)
    await s.finish()
  })

  it('Disconnect instead of Hello → dropped with its reason, requestedByRemote, not answered', async () => {
    const s = await inbound()
    await s.raw.initiate(s.evil, s.ours.pub)
    s.raw.send(P2P_MSG.disconnect, encodeDisconnect(DiscReason.TooManyPeers))
    await expectDrop(s, DiscReason.TooManyPeers, true)
    const msgs = await s.raw.readUntilClose()
    assert.deepEqual(
      msgs.map((m) => m.code),
      [P2P_MSG.hello],
    )
    await s.finish()
  })

  it('Hello after Hello → ProtocolError, Disconnect(ProtocolError) sent', async () => {
    const s = await inbound()
    await toRunning(s)
    s.raw.sendHello(helloOf(s.evil.pub))
    await expectDrop(s, DiscReason.ProtocolError)
    assert.equal(await s.raw.readDisconnect(), DiscReason.ProtocolError)
    await s.finish()
  })

  it('message code out of range → ProtocolError, Disconnect(ProtocolError) sent', async () => {
    const s = await inbound({ protocols: [echoProtocol('foo', 1, 4)] })
    await toRunning(s)
    s.raw.send(0x10 + 3, Uint8Array.of(0xc0)) // in range: echoed
    const echoed = await s.raw.read()
    assert.equal(echoed.code, 0x13)
    s.raw.send(0x10 + 4, Uint8Array.of(0xc0))
    await expectDrop(s, DiscReason.ProtocolError)
    assert.equal(await s.raw.readDisconnect(), DiscReason.ProtocolError)
    await s.finish()
  })

  it('10 000 Pings in a burst: the peer stays up (geth blocks its read loop, never drops), Pongs bounded', async () => {
    const s = await inbound()
    await toRunning(s)
    const heap0 = process.memoryUsage().heapUsed
    const ping = s.raw.frame(P2P_MSG.ping, Uint8Array.of(0xc0))
    const frames: Uint8Array[] = []
    for (let i = 0; i < 10_000; i++)
      frames.push(i === 0 ? ping : s.raw.frame(P2P_MSG.ping, Uint8Array.of(0xc0)))
    s.raw.write(Buffer.concat(frames))
    // wait until every Ping was read by our side
    const conn = s.peer.connection
    const in0 = conn.ingressMessages
    for (let i = 0; i < 500 && conn.ingressMessages < in0 + 10_000; i++)
      await new Promise((r) => setTimeout(r, 5))
    assert.ok(conn.ingressMessages >= in0 + 10_000)
    assert.ok(s.peer.actor.getSnapshot().matches('running'))
    // the hostile side then says goodbye: every message before the echo is a Pong
    s.raw.send(P2P_MSG.disconnect, encodeDisconnect(DiscReason.Requested))
    await expectDrop(s, DiscReason.Requested, true)
    const msgs = await s.raw.readUntilClose()
    const pongs = msgs.filter((m) => m.code === P2P_MSG.pong).length
    assert.equal(msgs.at(-1)!.code, P2P_MSG.disconnect)
    assert.ok(pongs >= 1 && pongs <= 10_000, `pongs ${pongs}`)
    assert.ok(conn.egressMessages <= 10_002)
    const grown = process.memoryUsage().heapUsed - heap0
    assert.ok(grown < 64 << 20, `heap grew ${grown} bytes`)
    await s.finish()
  })

  it('Disconnect while running → requestedByRemote, the reason echoed as geth’s `[reason]`', async () => {
    const s = await inbound()
    await toRunning(s)
    s.raw.send(P2P_MSG.disconnect, encodeDisconnect(DiscReason.TooManyPeers))
    await expectDrop(s, DiscReason.TooManyPeers, true)
    const msgs = await s.raw.readUntilClose()
    const disc = msgs.filter((m) => m.code === P2P_MSG.disconnect)
    assert.equal(disc.length, 1)
    assert.deepEqual([...disc[0]!.payload], [0xc1, 0x04])
    await s.finish()
  })

  it('ethjs-style Disconnect (uncompressed bare integer while snappy is on) → its reason, requestedByRemote', async () => {
    const s = await inbound()
    await toRunning(s)
    s.raw.coder!.setSnappy(false)
    s.raw.send(P2P_MSG.disconnect, Uint8Array.of(DiscReason.Quitting))
    await expectDrop(s, DiscReason.Quitting, true)
    s.raw.coder!.setSnappy(true)
    assert.equal(await s.raw.readDisconnect(), DiscReason.Quitting)
    await s.finish()
  })

  it('dialled node answering with another identity in Hello → UnexpectedIdentity, Disconnect sent', async () => {
    const base = resourceCounts()
    const l = await listen()
    const ours = newKeys()
    const evil = newKeys()
    const peer = startPeer({
      timeouts: FAST,
      socket: dial(l.port),
      privateKey: ours.priv,
      dialDest: { id: evil.id, pubkey: evil.pub },
    })
    opened.push({ peer, l })
    const raw = new RawPeer(await l.accept())
    opened.push({ raw })
    await raw.respond(evil)
    raw.sendHello(helloOf(newKeys().pub))
    const out = await peer.dropped
    assert.equal(out.reason, DiscReason.UnexpectedIdentity)
    assert.equal(out.requestedByRemote, false)
    assert.equal((await raw.read()).code, P2P_MSG.hello)
    raw.coder!.setSnappy(true) // geth switches snappy on before checking the identity, then says why
    assert.equal(await raw.readDisconnect(), DiscReason.UnexpectedIdentity)
    await peer.closed
    await raw.destroy()
    await l.close()
    await assertNoLeaks(base)
  })
})
