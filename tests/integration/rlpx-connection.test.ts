// Integration tests of actors/rlpx-connection.ts over 127.0.0.1: the ECIES handshake both ways, messages of
// 0 B to 16 MiB−1 with snappy on and off, back-pressure (bounded socket buffer, bounded queue), read / write /
// handshake timeouts, close with Disconnect `[reason]`, the ethjs bare-integer Disconnect, EOF inside a frame,
// byte counters, and no leaked socket or timer after any of it.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { firstValueFrom, take, toArray } from 'rxjs'
import { ConnectionError, RlpxConnection } from '../../actors/rlpx-connection.ts'
import { equalBytes } from '../../codecs/bytes.ts'
import { DecodeError } from '../../codecs/errors.ts'
import { decodeDisconnect, P2P_MSG } from '../../codecs/p2p.ts'
import {
  createAck,
  createAuth,
  initiatorSecrets,
  readAck,
  readAuth,
  recipientSecrets,
} from '../../codecs/rlpx-handshake.ts'
import { classify, type Msg } from '../../machines/protocol.ts'
import { assertNoLeaks, connectionPair, dial, listen, newKeys, resourceCounts } from '../helpers/peers.ts'
import { RawPeer } from '../helpers/raw-peer.ts'

const MAX = 0xffffff
const collect = (c: RlpxConnection, n: number) => firstValueFrom(c.messages$.pipe(take(n), toArray()))
const endOf = (c: RlpxConnection) =>
  new Promise<{ error?: unknown }>((resolve) =>
    c.messages$.subscribe({ error: (error) => resolve({ error }), complete: () => resolve({}) }),
  )
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** compressible but not trivial: a repeated random 4 KiB block */
function compressible(n: number): Uint8Array {
  const block = randomBytes(4096)
  const out = new Uint8Array(n)
  for (let o = 0; o < n; o += block.length) out.set(block.subarray(0, Math.min(block.length, n - o)), o)
  return out
}

describe('RlpxConnection handshake', () => {
  it('initiator and recipient learn each other’s key; messages flow both ways; counters match', async () => {
    const base = resourceCounts()
    const p = await connectionPair()
    assert.ok(equalBytes(p.a.remotePubkey!, p.kb.pub))
    assert.ok(equalBytes(p.b.remotePubkey!, p.ka.pub))
    assert.equal(p.a.initiator, true)
    assert.equal(p.b.initiator, false)
    const atB = collect(p.b, 3)
    const atA = collect(p.a, 1)
    await p.a.send(0x10, Uint8Array.of(1, 2, 3))
    await p.a.send(0, new Uint8Array(0))
    await p.a.send(0x1234567, randomBytes(1000))
    await p.b.send(0x22, Uint8Array.of(9))
    const got = await atB
    assert.deepEqual(
      got.map((m) => [m.code, m.size]),
      [
        [0x10, 3],
        [0, 0],
        [0x1234567, 1000],
      ],
    )
    assert.ok(got.every((m) => typeof m.receivedAt === 'number' && m.receivedAt > 0))
    assert.deepEqual([...(await atA)[0]!.payload], [9])
    assert.equal(p.a.egressMessages, 3)
    assert.equal(p.b.ingressMessages, 3)
    await sleep(10)
    assert.equal(p.a.egressBytes, p.b.ingressBytes)
    assert.equal(p.b.egressBytes, p.a.ingressBytes)
    await p.close()
    await assertNoLeaks(base)
  })

  it('a dial with the wrong remote key fails on both sides (ECIES) and leaks nothing', async () => {
    const base = resourceCounts()
    const l = await listen()
    const ka = newKeys()
    const kb = newKeys()
    const a = new RlpxConnection(dial(l.port), { privateKey: ka.priv, remotePubkey: newKeys().pub })
    const b = new RlpxConnection(await l.accept(), { privateKey: kb.priv })
    const [ra, rb] = await Promise.allSettled([a.encHandshake(), b.encHandshake()])
    assert.equal(rb.status, 'rejected')
    assert.ok((rb as PromiseRejectedResult).reason instanceof DecodeError)
    assert.equal(((rb as PromiseRejectedResult).reason as DecodeError).code, 'ECIES_FAILED')
    assert.equal(ra.status, 'rejected')
    assert.equal(classify((ra as PromiseRejectedResult).reason), 1) // NetworkError: the remote hung up
    await Promise.all([a.closed, b.closed])
    await l.close()
    await assertNoLeaks(base)
  })

  it('handshake deadline: silence → HANDSHAKE_TIMEOUT (classified as a read timeout)', async () => {
    const base = resourceCounts()
    const l = await listen()
    const raw = dial(l.port)
    const b = new RlpxConnection(await l.accept(), { privateKey: newKeys().priv, handshakeTimeout: 150 })
    const t0 = Date.now()
    const err = await b.encHandshake().catch((e) => e)
    assert.ok(err instanceof ConnectionError && err.code === 'HANDSHAKE_TIMEOUT')
    assert.ok(Date.now() - t0 >= 140)
    assert.equal(classify(err), 0x0b)
    await b.closed
    raw.destroy()
    await l.close()
    await assertNoLeaks(base)
  })

  it('abort signal and close() during the handshake reject it', async () => {
    const base = resourceCounts()
    const l = await listen()
    const raw = dial(l.port)
    const b = new RlpxConnection(await l.accept(), { privateKey: newKeys().priv })
    const ac = new AbortController()
    const hs = b.encHandshake(ac.signal)
    ac.abort()
    const err = await hs.catch((e) => e)
    assert.equal(err.code, 'ABORTED')
    const raw2 = dial(l.port)
    const c = new RlpxConnection(await l.accept(), { privateKey: newKeys().priv })
    const hs2 = c.encHandshake()
    c.close(4)
    assert.equal((await hs2.catch((e) => e)).code, 'CLOSED')
    assert.equal((await c.send(0x10, new Uint8Array(1)).catch((e) => e)).code, 'CLOSED')
    await Promise.all([b.closed, c.closed])
    raw.destroy()
    raw2.destroy()
    await l.close()
    await assertNoLeaks(base)
  })
})

describe('RlpxConnection initWithSecrets', () => {
  it('two connections keyed from an in-memory handshake talk without running it on the wire', async () => {
    const base = resourceCounts()
    const ka = newKeys()
    const kb = newKeys()
    const { packet: auth, state } = createAuth(ka.priv, kb.pub)
    const { packet: ack, state: rstate } = createAck(readAuth(kb.priv, auth))
    const sa = initiatorSecrets(state, readAck(ka.priv, ack))
    const sb = recipientSecrets(rstate)
    const l = await listen()
    const a = new RlpxConnection(dial(l.port), { privateKey: ka.priv, remotePubkey: kb.pub })
    const b = new RlpxConnection(await l.accept(), { privateKey: kb.priv })
    a.initWithSecrets(sa)
    b.initWithSecrets(sb)
    assert.ok(equalBytes(await b.encHandshake(), ka.pub))
    assert.throws(() => a.initWithSecrets(sa), { code: 'NOT_READY' })
    const got = collect(b, 1)
    await a.send(0x10, Uint8Array.of(42))
    assert.deepEqual([...(await got)[0]!.payload], [42])
    a.close()
    b.close()
    await Promise.all([a.closed, b.closed])
    await l.close()
    await assertNoLeaks(base)
  })
})

describe('RlpxConnection messages', () => {
  for (const snappy of [false, true]) {
    it(`payloads 0 B … 16 MiB−${snappy ? 1 : 2} arrive intact (snappy ${snappy ? 'on' : 'off'})`, async () => {
      const base = resourceCounts()
      const p = await connectionPair()
      p.a.setSnappy(snappy)
      p.b.setSnappy(snappy)
      const sizes = [0, 1, 15, 16, 17, 1023, 1024, 65_535, 65_536, 1 << 20, (1 << 20) + 7]
      const payloads = sizes.map((n) => randomBytes(n) as Uint8Array)
      // the largest: snappy on needs compressible data to fit a frame; off, rlp(code) takes the last byte
      payloads.push(snappy ? compressible(MAX) : randomBytes(MAX - 1))
      const got = collect(p.b, payloads.length)
      for (const [i, pl] of payloads.entries()) await p.a.send(0x10 + i, pl)
      const msgs = await got
      for (const [i, m] of msgs.entries()) {
        assert.equal(m.code, 0x10 + i)
        assert.equal(m.size, payloads[i]!.length)
        assert.ok(equalBytes(m.payload, payloads[i]!), `payload ${i}`)
      }
      // one byte more does not fit: FRAME_TOO_BIG (snappy off: rlp(code) + data > 2^24−1) / MESSAGE_TOO_BIG
      const tooBig = await p.a.send(0x10, new Uint8Array(snappy ? MAX + 1 : MAX)).catch((e) => e)
      assert.ok(tooBig instanceof DecodeError)
      assert.equal(tooBig.code, snappy ? 'MESSAGE_TOO_BIG' : 'FRAME_TOO_BIG')
      // the connection is still usable after a refused send
      const after = collect(p.b, 1)
      await p.a.send(0x11, Uint8Array.of(7))
      assert.deepEqual([...(await after)[0]!.payload], [7])
      await p.close()
      await assertNoLeaks(base)
    })
  }

  it('snappy shrinks the wire bytes of a compressible message; off sends it whole', async () => {
    const p = await connectionPair()
    const payload = compressible(1 << 20)
    const got = collect(p.b, 1)
    const before = p.a.egressBytes
    await p.a.send(0x10, payload)
    await got
    const plain = p.a.egressBytes - before
    p.a.setSnappy(true)
    p.b.setSnappy(true)
    const got2 = collect(p.b, 1)
    const before2 = p.a.egressBytes
    await p.a.send(0x10, payload)
    assert.ok(equalBytes((await got2)[0]!.payload, payload))
    const compressed = p.a.egressBytes - before2
    assert.ok(plain > payload.length, `plain ${plain}`)
    assert.ok(compressed < payload.length / 5, `compressed ${compressed}`)
    await p.close()
  })

  it('accepts an uncompressed bare-integer Disconnect while snappy is on (@ethereumjs/devp2p)', async () => {
    const p = await connectionPair()
    p.b.setSnappy(true) // a stays uncompressed: it writes `08` as ethjs does
    const got = collect(p.b, 1)
    await p.a.send(P2P_MSG.disconnect, Uint8Array.of(0x08))
    const m = (await got)[0]!
    assert.equal(m.code, P2P_MSG.disconnect)
    assert.equal(decodeDisconnect(m.payload), 8)
    // any other code with a broken snappy body is a protocol error
    const end = endOf(p.b)
    await p.a.send(0x10, Uint8Array.of(0x08))
    const { error } = await end
    assert.ok(error instanceof DecodeError && error.code === 'SNAPPY_INVALID')
    await p.close()
  })

  it('holds messages while nobody subscribes (socket paused) and delivers them in order later', async () => {
    const p = await connectionPair()
    for (let i = 0; i < 50; i++) await p.a.send(0x10 + i, Uint8Array.of(i))
    await sleep(30)
    const got = await collect(p.b, 50)
    assert.deepEqual(
      got.map((m) => m.code),
      Array.from({ length: 50 }, (_, i) => 0x10 + i),
    )
    // two subscribers in the same tick both see the same messages
    const [x, y] = [collect(p.b, 3), collect(p.b, 3)]
    for (let i = 0; i < 3; i++) await p.a.send(0x40 + i, new Uint8Array(0))
    assert.deepEqual(
      (await x).map((m) => m.code),
      (await y).map((m) => m.code),
    )
    await p.close()
  })
})

describe('RlpxConnection back-pressure and timeouts', () => {
  it('send waits for the socket: bounded buffer, bounded queue, all delivered in order once read', async () => {
    const base = resourceCounts()
    const maxWriteBuffer = 256 * 1024
    const p = await connectionPair({ a: { maxWriteBuffer, maxQueuedBytes: 4 << 20 } })
    const chunk = new Uint8Array(1 << 20)
    const sends: Promise<void>[] = []
    let resolved = 0
    // the receiver is not reading: the kernel buffers fill, then our socket buffer, then the queue
    let refused: unknown
    for (let i = 0; i < 64 && refused === undefined; i++) {
      const s = p.a.send(0x10 + i, chunk)
      s.then(
        () => resolved++,
        (e) => {
          refused ??= e
        },
      )
      sends.push(s)
      await sleep(i < 40 ? 1 : 5)
      assert.ok(p.a.socket.writableLength <= maxWriteBuffer + chunk.length + 64)
    }
    assert.ok(refused instanceof ConnectionError && refused.code === 'WRITE_QUEUE_FULL', String(refused))
    const accepted = sends.length - 1
    assert.ok(resolved < accepted, `${resolved} of ${accepted} resolved`)
    // now read everything: every accepted send resolves and arrives
    const got = await collect(p.b, accepted)
    assert.deepEqual(
      got.map((m) => m.code),
      Array.from({ length: accepted }, (_, i) => 0x10 + i),
    )
    await Promise.allSettled(sends)
    assert.equal(resolved, accepted)
    await p.close()
    await assertNoLeaks(base)
  })

  it('write deadline: a remote that never reads → WRITE_TIMEOUT, pending sends reject', async () => {
    const base = resourceCounts()
    const p = await connectionPair({ a: { writeTimeout: 200, maxWriteBuffer: 64 * 1024 } })
    const end = endOf(p.a)
    p.a.messages$.subscribe({ error: () => {} })
    const chunk = new Uint8Array(1 << 20)
    let err: unknown
    for (let i = 0; i < 200 && err === undefined; i++) {
      await Promise.race([p.a.send(0x10, chunk).catch((e) => (err = e)), sleep(5)])
    }
    for (let i = 0; i < 100 && err === undefined; i++) await sleep(10)
    assert.ok(err instanceof ConnectionError, String(err))
    assert.ok(['WRITE_TIMEOUT', 'CLOSED'].includes(err.code))
    const { error } = await end
    assert.ok(error instanceof ConnectionError && error.code === 'WRITE_TIMEOUT')
    assert.equal(classify(error), 0x0b)
    await p.close()
    await assertNoLeaks(base)
  })

  it('read deadline runs only while someone reads: READ_TIMEOUT after silence', async () => {
    const base = resourceCounts()
    const p = await connectionPair({ b: { readTimeout: 150 } })
    await sleep(250) // nobody subscribed: no deadline
    assert.equal(p.b.isOpen, true)
    const t0 = Date.now()
    const first = collect(p.b, 1)
    await sleep(100)
    await p.a.send(0x10, new Uint8Array(1)) // a message resets the deadline
    await first
    const { error } = await endOf(p.b)
    assert.ok(Date.now() - t0 >= 240)
    assert.ok(error instanceof ConnectionError && error.code === 'READ_TIMEOUT')
    assert.equal(classify(error), 0x0b)
    await p.close()
    await assertNoLeaks(base)
  })
})

describe('RlpxConnection closing', () => {
  for (const snappy of [false, true]) {
    it(`close(reason) sends Disconnect [reason] then FIN (snappy ${snappy ? 'on' : 'off'})`, async () => {
      const base = resourceCounts()
      const l = await listen()
      const kb = newKeys()
      const rawP = RawPeer.dial(l.port, newKeys(), kb.pub)
      const conn = new RlpxConnection(await l.accept(), { privateKey: kb.priv })
      await conn.encHandshake()
      const raw = await rawP
      conn.setSnappy(snappy)
      raw.coder!.setSnappy(snappy)
      const end = endOf(conn)
      conn.close(0x04)
      conn.close(0x05) // idempotent
      assert.deepEqual(await end, {})
      const msgs = await raw.readUntilClose()
      assert.equal(msgs.length, 1)
      assert.equal(msgs[0]!.code, P2P_MSG.disconnect)
      assert.deepEqual([...msgs[0]!.payload], [0xc1, 0x04]) // geth's `[reason]` form
      assert.deepEqual(await conn.closed, {})
      await raw.destroy()
      await l.close()
      await assertNoLeaks(base)
    })
  }

  it('clean EOF completes messages$; EOF inside a frame errors with EOF (network error)', async () => {
    const base = resourceCounts()
    const l = await listen()
    const kb = newKeys()
    for (const cut of [false, true]) {
      const rawP = RawPeer.dial(l.port, newKeys(), kb.pub)
      const conn = new RlpxConnection(await l.accept(), { privateKey: kb.priv })
      await conn.encHandshake()
      const raw = await rawP
      const f = raw.frame(0x10, new Uint8Array(100))
      raw.write(cut ? f.subarray(0, 70) : f)
      raw.socket.end()
      const got: Msg[] = []
      const end = await new Promise<{ error?: unknown }>((resolve) =>
        conn.messages$.subscribe({
          next: (m) => got.push(m),
          error: (error) => resolve({ error }),
          complete: () => resolve({}),
        }),
      )
      if (cut) {
        assert.equal(got.length, 0)
        assert.ok(end.error instanceof ConnectionError && end.error.code === 'EOF')
        assert.equal(classify(end.error), 0x01)
      } else {
        assert.equal(got.length, 1)
        assert.deepEqual(end, {})
      }
      await conn.closed
      await raw.destroy()
    }
    await l.close()
    await assertNoLeaks(base)
  })

  it('messages sent before the remote’s FIN reach a subscriber that comes later, then the stream completes', async () => {
    const base = resourceCounts()
    const l = await listen()
    const kb = newKeys()
    const rawP = RawPeer.dial(l.port, newKeys(), kb.pub)
    const conn = new RlpxConnection(await l.accept(), { privateKey: kb.priv })
    await conn.encHandshake()
    const raw = await rawP
    for (let i = 0; i < 3; i++) raw.send(0x10 + i, Uint8Array.of(i))
    raw.socket.end()
    await sleep(50)
    const got: number[] = []
    const end = await new Promise<{ error?: unknown }>((resolve) =>
      conn.messages$.subscribe({
        next: (m) => got.push(m.code),
        error: (error) => resolve({ error }),
        complete: () => resolve({}),
      }),
    )
    assert.deepEqual(got, [0x10, 0x11, 0x12])
    assert.deepEqual(end, {})
    // a subscriber after the end gets the end at once
    assert.deepEqual(await endOf(conn), {})
    await conn.closed
    await raw.destroy()
    await l.close()
    await assertNoLeaks(base)
  })

  it('a reset by the remote errors messages$ with SOCKET_ERROR (network error)', async () => {
    const base = resourceCounts()
    const l = await listen()
    const kb = newKeys()
    const rawP = RawPeer.dial(l.port, newKeys(), kb.pub)
    const conn = new RlpxConnection(await l.accept(), { privateKey: kb.priv })
    await conn.encHandshake()
    const raw = await rawP
    const end = endOf(conn)
    raw.socket.resetAndDestroy()
    const { error } = await end
    assert.ok(error instanceof ConnectionError, String(error))
    assert.ok(['SOCKET_ERROR', 'EOF'].includes(error.code))
    assert.equal(classify(error), 0x01)
    assert.equal((await conn.send(0x10, new Uint8Array(1)).catch((e) => e)).code, 'CLOSED')
    await conn.closed
    await raw.closed
    await l.close()
    await assertNoLeaks(base)
  })

  it('a bad frame MAC errors messages$ and closes the socket', async () => {
    const base = resourceCounts()
    const l = await listen()
    const kb = newKeys()
    const rawP = RawPeer.dial(l.port, newKeys(), kb.pub)
    const conn = new RlpxConnection(await l.accept(), { privateKey: kb.priv })
    await conn.encHandshake()
    const raw = await rawP
    const f = raw.frame(0x10, new Uint8Array(40))
    f[f.length - 1]! ^= 1
    raw.write(f)
    const { error } = await endOf(conn)
    assert.ok(error instanceof DecodeError && error.code === 'BAD_FRAME_MAC')
    assert.ok((await conn.closed).error instanceof DecodeError)
    await raw.closed
    await l.close()
    await assertNoLeaks(base)
  })
})
