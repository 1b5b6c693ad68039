// Unit tests of machines/protocol.ts: MsgChannel hold/flush semantics, per-protocol rw offsets and code
// checks (geth protoRW), msgPipe round trips (geth MsgPipe), and the error → DiscReason maps.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { firstValueFrom, Subject, take, toArray } from 'rxjs'
import { DecodeError } from '../../../codecs/errors.ts'
import { DiscReason, matchProtocols } from '../../../codecs/p2p.ts'
import {
  classify,
  type Msg,
  MsgChannel,
  msgPipe,
  ProtocolError,
  protocolDiscReason,
  protocolRW,
} from '../../../machines/protocol.ts'

const msg = (code: number, payload: Uint8Array = Uint8Array.of(code & 0xff)): Msg => ({
  code,
  size: payload.length,
  payload,
  receivedAt: 0,
})
const tick = () => new Promise<void>((r) => setImmediate(r))

describe('MsgChannel', () => {
  it('holds messages while nobody listens and flushes them in order to everyone who subscribed that tick', async () => {
    const ch = new MsgChannel()
    for (let i = 0; i < 5; i++) assert.equal(ch.push(msg(i)), true)
    assert.equal(ch.queued, 5)
    const a: number[] = []
    const b: number[] = []
    ch.messages$.subscribe((m) => a.push(m.code))
    assert.deepEqual(a, [], 'nothing emitted inside subscribe')
    ch.messages$.subscribe((m) => b.push(m.code))
    await tick()
    assert.deepEqual(a, [0, 1, 2, 3, 4])
    assert.deepEqual(b, [0, 1, 2, 3, 4])
    ch.push(msg(5))
    assert.deepEqual(a.at(-1), 5, 'live messages are delivered synchronously')
    assert.equal(ch.queued, 0)
  })

  it('keeps what a subscriber did not take (channel semantics)', async () => {
    const ch = new MsgChannel()
    for (let i = 0; i < 4; i++) ch.push(msg(i))
    assert.equal((await firstValueFrom(ch.messages$)).code, 0)
    assert.equal(ch.queued, 3)
    const rest = await firstValueFrom(ch.messages$.pipe(take(3), toArray()))
    assert.deepEqual(
      rest.map((m) => m.code),
      [1, 2, 3],
    )
  })

  it('is bounded: push returns false when full', () => {
    const ch = new MsgChannel(3)
    assert.deepEqual(
      [1, 2, 3, 4].map((i) => ch.push(msg(i))),
      [true, true, true, false],
    )
    assert.equal(ch.queued, 3)
  })

  it('is bounded in bytes too, but always takes one message into an empty queue', async () => {
    const ch = new MsgChannel(100, 1000)
    assert.equal(ch.push(msg(1, new Uint8Array(5000))), true, 'one oversized message fits an empty queue')
    assert.equal(ch.push(msg(2, new Uint8Array(1))), false)
    await firstValueFrom(ch.messages$)
    assert.equal(ch.queuedBytes, 0)
    assert.equal(ch.push(msg(3, new Uint8Array(600))), true)
    assert.equal(ch.push(msg(4, new Uint8Array(400))), true)
    assert.equal(ch.push(msg(5, new Uint8Array(1))), false)
    assert.equal(ch.queuedBytes, 1000)
  })

  it('delivers held messages before completing or erroring', async () => {
    const ch = new MsgChannel()
    ch.push(msg(1))
    ch.complete()
    assert.equal(ch.push(msg(2)), false)
    assert.deepEqual(
      (await firstValueFrom(ch.messages$.pipe(toArray()))).map((m) => m.code),
      [1],
    )
    const ch2 = new MsgChannel()
    ch2.push(msg(1))
    const boom = new Error('boom')
    ch2.error(boom)
    const seen: number[] = []
    await assert.rejects(
      new Promise((res, rej) =>
        ch2.messages$.subscribe({ next: (m) => seen.push(m.code), error: rej, complete: () => res(null) }),
      ),
      boom,
    )
    assert.deepEqual(seen, [1])
  })
})

describe('protocolRW (geth protoRW)', () => {
  const eth = { name: 'eth', version: 68, length: 17 }
  const snap = { name: 'snap', version: 1, length: 8 }
  const wit = { name: 'wit', version: 0, length: 3 }

  it('routes several protocols at once by offset and rebases codes', async () => {
    const shared = matchProtocols(
      [eth, snap, wit],
      [
        { name: 'wit', version: 0 },
        { name: 'eth', version: 68 },
        { name: 'snap', version: 1 },
      ],
    )
    assert.deepEqual(
      shared.map((s) => [s.name, s.offset]),
      [
        ['eth', 0x10],
        ['snap', 0x21],
        ['wit', 0x29],
      ],
    )
    const upstream = new Subject<Msg>()
    const written: number[] = []
    const rws = shared.map((s) =>
      protocolRW(upstream, {
        offset: s.offset,
        length: s.length,
        send: async (code) => {
          written.push(code)
        },
      }),
    )
    const got: number[][] = rws.map(() => [])
    rws.forEach((rw, i) => {
      rw.messages$.subscribe((m) => got[i]!.push(m.code))
    })
    for (let code = 0; code < 0x2c + 2; code++) upstream.next(msg(code))
    assert.deepEqual(
      got[0],
      Array.from({ length: 17 }, (_, i) => i),
    )
    assert.deepEqual(
      got[1],
      Array.from({ length: 8 }, (_, i) => i),
    )
    assert.deepEqual(got[2], [0, 1, 2])
    await rws[0]!.send(0x10, new Uint8Array())
    await rws[1]!.send(7, new Uint8Array())
    await rws[2]!.send(0, new Uint8Array())
    assert.deepEqual(written, [0x20, 0x28, 0x29])
  })

  it('rejects codes ≥ length (and negative / fractional) with INVALID_MSG_CODE, sending nothing', async () => {
    const written: number[] = []
    const rw = protocolRW(new Subject<Msg>(), {
      offset: 0x10,
      length: 17,
      send: async (c) => {
        written.push(c)
      },
    })
    for (const bad of [17, 18, 1000, -1, 1.5]) {
      await assert.rejects(rw.send(bad, new Uint8Array()), (e: unknown) => {
        assert.ok(e instanceof ProtocolError)
        assert.equal(e.code, 'INVALID_MSG_CODE')
        assert.equal(protocolDiscReason(e), DiscReason.ProtocolError)
        return true
      })
    }
    assert.deepEqual(written, [])
  })

  it('holds messages until the handler subscribes, and completes on dispose / upstream end', async () => {
    const upstream = new Subject<Msg>()
    const rw = protocolRW(upstream, { offset: 0x10, length: 2, send: async () => {} })
    upstream.next(msg(0x10))
    upstream.next(msg(0x11))
    const all = firstValueFrom(rw.messages$.pipe(toArray()))
    upstream.error(new Error('socket gone'))
    assert.deepEqual(
      (await all).map((m) => m.code),
      [0, 1],
      'upstream failure is EOF to the protocol',
    )
    rw.dispose()
    await assert.rejects(rw.send(0, new Uint8Array()), { code: 'SHUTTING_DOWN' })
  })

  it('reports an overflow once when the handler does not read', () => {
    const upstream = new Subject<Msg>()
    const overflows: ProtocolError[] = []
    protocolRW(upstream, {
      offset: 0x10,
      length: 1,
      send: async () => {},
      maxQueued: 10,
      onOverflow: (e) => overflows.push(e),
    })
    for (let i = 0; i < 100; i++) upstream.next(msg(0x10))
    assert.equal(overflows.length, 1)
    assert.equal(overflows[0]!.code, 'QUEUE_OVERFLOW')
    assert.equal(protocolDiscReason(overflows[0]), DiscReason.SubprotocolError)
  })

  it('property: every code goes to exactly the protocol owning it, rebased (random protocol sets)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({ name: fc.stringMatching(/^[a-z]{1,4}$/), length: fc.integer({ min: 1, max: 20 }) }),
          {
            selector: (p) => p.name,
            minLength: 1,
            maxLength: 5,
          },
        ),
        (protos) => {
          const ours = protos.map((p) => ({ ...p, version: 1 }))
          const shared = matchProtocols(
            ours,
            ours.map((p) => ({ name: p.name, version: 1 })),
          )
          const upstream = new Subject<Msg>()
          const seen = new Map<string, number[]>()
          for (const s of shared) {
            const list: number[] = []
            seen.set(s.name, list)
            protocolRW(upstream, {
              offset: s.offset,
              length: s.length,
              send: async () => {},
            }).messages$.subscribe((m) => list.push(m.code))
          }
          const total = shared.reduce((n, s) => n + s.length, 16)
          for (let c = 0; c < total + 3; c++) upstream.next(msg(c))
          for (const s of shared) {
            assert.deepEqual(
              seen.get(s.name),
              Array.from({ length: s.length }, (_, i) => i),
            )
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('msgPipe (geth MsgPipe)', () => {
  it('round-trips messages both ways, in order, payload intact', async () => {
    const [a, b] = msgPipe()
    const payload = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff)
    await a.send(3, payload)
    await a.send(4, new Uint8Array())
    await b.send(9, Uint8Array.of(1, 2))
    const atB = await firstValueFrom(b.messages$.pipe(take(2), toArray()))
    assert.deepEqual(
      atB.map((m) => [m.code, m.size]),
      [
        [3, 1000],
        [4, 0],
      ],
    )
    assert.deepEqual(atB[0]!.payload, payload)
    const atA = await firstValueFrom(a.messages$)
    assert.deepEqual([atA.code, [...atA.payload]], [9, [1, 2]])
  })

  it('close: both ends complete, sends reject with PIPE_CLOSED', async () => {
    const [a, b] = msgPipe()
    const done = firstValueFrom(b.messages$.pipe(toArray()))
    a.close()
    assert.deepEqual(await done, [])
    await assert.rejects(a.send(1, new Uint8Array()), { code: 'PIPE_CLOSED' })
    await assert.rejects(b.send(1, new Uint8Array()), { code: 'PIPE_CLOSED' })
  })

  it('runs a protocol handler without sockets (echo protocol over an rw on each side)', async () => {
    const [a, b] = msgPipe()
    // the "remote" side echoes code+1 three times then stops
    const echo = (async () => {
      const got = await firstValueFrom(b.messages$.pipe(take(3), toArray()))
      for (const m of got) await b.send(m.code + 1, m.payload)
    })()
    for (const c of [0, 2, 4]) await a.send(c, Uint8Array.of(c))
    const replies = await firstValueFrom(a.messages$.pipe(take(3), toArray()))
    await echo
    assert.deepEqual(
      replies.map((m) => [m.code, m.payload[0]]),
      [
        [1, 0],
        [3, 2],
        [5, 4],
      ],
    )
  })
})

describe('error → DiscReason', () => {
  it('protocolDiscReason follows geth discReasonForError', () => {
    const table: [unknown, number][] = [
      [new ProtocolError('INVALID_MESSAGE'), DiscReason.ProtocolError],
      [new ProtocolError('INVALID_MSG_CODE'), DiscReason.ProtocolError],
      [new ProtocolError('DISCONNECT', 'x', { reason: DiscReason.UselessPeer }), DiscReason.UselessPeer],
      [new ProtocolError('SHUTTING_DOWN'), DiscReason.SubprotocolError],
      [new DecodeError('BAD_MESSAGE'), DiscReason.SubprotocolError],
      [new Error('anything'), DiscReason.SubprotocolError],
      ['a string', DiscReason.SubprotocolError],
    ]
    for (const [e, want] of table) assert.equal(protocolDiscReason(e), want, String(e))
  })

  it('classify maps connection failures', () => {
    const err = (code: string) => Object.assign(new Error(code), { code })
    const table: [unknown, number][] = [
      [new DecodeError('BAD_HEADER_MAC'), DiscReason.ProtocolError],
      [new DecodeError('BAD_FRAME_MAC'), DiscReason.ProtocolError],
      [new DecodeError('FRAME_TOO_BIG'), DiscReason.ProtocolError],
      [new DecodeError('SNAPPY_INVALID'), DiscReason.ProtocolError],
      [new DecodeError('AUTH_TOO_BIG'), DiscReason.ProtocolError],
      [new DecodeError('INVALID_IDENTITY'), DiscReason.InvalidIdentity],
      [
        new ProtocolError('REMOTE_DISCONNECT', 'x', { reason: DiscReason.TooManyPeers }),
        DiscReason.TooManyPeers,
      ],
      [
        new ProtocolError('CONNECTION_CLOSED', 'x', { reason: DiscReason.NetworkError }),
        DiscReason.NetworkError,
      ],
      [new ProtocolError('BAD_HELLO'), DiscReason.ProtocolError],
      [err('ETIMEDOUT'), DiscReason.ReadTimeout],
      [err('READ_TIMEOUT'), DiscReason.ReadTimeout],
      [err('ECONNRESET'), DiscReason.NetworkError],
      [err('EPIPE'), DiscReason.NetworkError],
      [new Error('eof'), DiscReason.NetworkError],
      [undefined, DiscReason.NetworkError],
      [null, DiscReason.NetworkError],
    ]
    for (const [e, want] of table) assert.equal(classify(e), want, String(e))
  })
})
