// Unit tests of machines/peer-actors.ts on their own: the Hello exchange (geth doProtoHandshake /
// readProtocolHandshake ordering, snappy switched inside the Hello delivery, abort), the `connection` actor's
// commands and events, and createPeerHandle.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { firstValueFrom, Subject, take, toArray } from 'rxjs'
import { createActor, createMachine } from 'xstate'
import { DiscReason, encodeHello, type Hello, P2P_MSG } from '../../../codecs/p2p.ts'
import {
  type ConnectionEvent,
  connectionLogic,
  createPeerHandle,
  type PeerTransport,
  protoHandshake,
  readHello,
} from '../../../machines/peer-actors.ts'
import { type Msg, MsgChannel } from '../../../machines/protocol.ts'

const ID = new Uint8Array(64).fill(5)
const hello = (version: number): Hello => ({
  version,
  name: 'x',
  caps: [{ name: 'eth', version: 68 }],
  listenPort: 0,
  id: ID,
})
const msg = (code: number, payload: Uint8Array): Msg => ({
  code,
  size: payload.length,
  payload,
  receivedAt: 0,
})

function transport(send: PeerTransport['send'] = async () => {}) {
  const inbox = new MsgChannel()
  const snappy: boolean[] = []
  const t: PeerTransport = {
    encHandshake: async () => ID,
    messages$: inbox.messages$,
    send,
    setSnappy: (on) => snappy.push(on),
    close: () => inbox.complete(),
  }
  return { t, inbox, snappy }
}

const runHandshake = (t: PeerTransport) => protoHandshake(t, hello(5))

describe('protoHandshake', () => {
  it('switches snappy synchronously inside the Hello delivery, before the next frame is pushed', async () => {
    const { t, inbox, snappy } = transport()
    const theirs = runHandshake(t)
    await new Promise((r) => setImmediate(r))
    inbox.push(msg(P2P_MSG.hello, encodeHello(hello(5))))
    assert.deepEqual(snappy, [true], 'set before push() returned')
    inbox.push(msg(0x10, Uint8Array.of(1)))
    assert.equal(inbox.queued, 1, 'the frame after the Hello is held for running')
    assert.equal((await theirs).version, 5)
  })

  it('version 4 → snappy off', async () => {
    const { t, inbox, snappy } = transport()
    inbox.push(msg(P2P_MSG.hello, encodeHello(hello(4))))
    await runHandshake(t)
    assert.deepEqual(snappy, [false])
  })

  it('prefers the read error; reports the write error when the read succeeded', async () => {
    const writeFails = async () => {
      throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' })
    }
    const a = transport(writeFails)
    a.inbox.push(msg(P2P_MSG.hello, encodeHello(hello(5))))
    await assert.rejects(runHandshake(a.t), { code: 'EPIPE' })
    const b = transport(writeFails)
    b.inbox.push(msg(P2P_MSG.disconnect, Uint8Array.of(0xc1, 0x04)))
    await assert.rejects(runHandshake(b.t), (e: { code: string; reason: number }) => {
      assert.equal(e.code, 'REMOTE_DISCONNECT')
      assert.equal(e.reason, DiscReason.TooManyPeers)
      return true
    })
  })

  it('sends exactly our Hello, once', async () => {
    const sent: [number, Uint8Array][] = []
    const { t, inbox } = transport(async (c, p) => {
      sent.push([c, p])
    })
    inbox.push(msg(P2P_MSG.hello, encodeHello(hello(5))))
    await runHandshake(t)
    assert.deepEqual(sent, [[P2P_MSG.hello, encodeHello(hello(5))]])
  })
})

/** The connection actor under a parent that records what it sends back. */
function runConnection(t: PeerTransport) {
  const events: ConnectionEvent[] = []
  const parent = createActor(
    createMachine({
      invoke: { id: 'connection', src: connectionLogic, input: { transport: t, localHello: hello(5) } },
      on: { '*': { actions: ({ event }) => events.push(event as ConnectionEvent) } },
    }),
  )
  parent.subscribe({ error: () => {} })
  parent.start()
  const send = (c: { type: string; totalLength?: number }) =>
    parent.getSnapshot().children.connection!.send(c as never)
  return { parent, events, send }
}
const settle = () => new Promise((r) => setImmediate(r))

describe('connection actor', () => {
  it('handshake, then the Hello on hello.start, then the base protocol on messages.start', async () => {
    const sent: number[] = []
    const { t, inbox, snappy } = transport(async (c) => {
      sent.push(c)
    })
    const { parent, events, send } = runConnection(t)
    await settle()
    assert.deepEqual(events, [{ type: 'handshake.done', remotePubkey: ID }])
    inbox.push(msg(P2P_MSG.hello, encodeHello(hello(4))))
    await settle()
    assert.equal(events.length, 1, 'the Hello is not read before hello.start')
    send({ type: 'hello.start' })
    send({ type: 'hello.start' })
    await settle()
    assert.deepEqual(sent, [P2P_MSG.hello], 'our Hello sent once')
    assert.deepEqual(snappy, [false])
    assert.deepEqual(events[1], { type: 'hello.received', hello: hello(4) })
    inbox.push(msg(P2P_MSG.ping, new Uint8Array([0xc0])))
    inbox.push(msg(0x10 + 17, new Uint8Array([0xc0])))
    inbox.push(msg(P2P_MSG.disconnect, Uint8Array.of(0xc1, 0x04)))
    send({ type: 'messages.start', totalLength: 0x10 + 17 })
    await settle()
    assert.deepEqual(sent, [P2P_MSG.hello, P2P_MSG.pong], 'the held Ping answered once running')
    assert.deepEqual(
      events.slice(2).map((e) => e.type),
      ['message.invalid', 'disconnect.received'],
    )
    assert.equal((events[2] as { error: { code: string } }).error.code, 'INVALID_MSG_CODE')
    assert.equal((events[3] as { reason: number }).reason, DiscReason.TooManyPeers)
    inbox.complete()
    await settle()
    assert.deepEqual(events.at(-1), { type: 'tcp.closed' })
    parent.stop()
  })

  it('handshake failure → handshake.failed; stopping abandons the Hello read and sends nothing more', async () => {
    const a = transport()
    a.t.encHandshake = () => Promise.reject(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))
    const one = runConnection(a.t)
    await settle()
    assert.equal(one.events[0]!.type, 'handshake.failed')
    one.parent.stop()

    const src = new Subject<Msg>()
    const two = runConnection({ ...transport().t, messages$: src })
    await settle()
    two.send({ type: 'hello.start' })
    assert.equal(src.observed, true, 'reading the Hello')
    two.parent.stop()
    await settle()
    assert.equal(src.observed, false, 'the read abandoned on stop')
    assert.deepEqual(
      two.events.map((e) => e.type),
      ['handshake.done'],
    )
  })
})

describe('readHello', () => {
  it('abort → rejects and unsubscribes', async () => {
    const src = new Subject<Msg>()
    const ac = new AbortController()
    const p = readHello(src, ac.signal)
    assert.equal(src.observed, true)
    ac.abort()
    await assert.rejects(p, { code: 'SHUTTING_DOWN' })
    assert.equal(src.observed, false)
  })

  it('a stream error before the Hello is the error', async () => {
    const src = new Subject<Msg>()
    const p = readHello(src)
    src.error(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))
    await assert.rejects(p, { code: 'ECONNRESET' })
  })
})

describe('createPeerHandle', () => {
  it('replays the current snapshot, follows the actor, and disconnect sends peer.disconnect', async () => {
    const received: unknown[] = []
    const m = createMachine({
      initial: 'a',
      states: {
        a: { on: { 'peer.disconnect': { target: 'b', actions: ({ event }) => received.push(event) } } },
        b: { type: 'final' },
      },
    })
    const actor = createActor(m)
    actor.subscribe({ error: () => {} })
    actor.start()
    const h = createPeerHandle<{ value: string }>(actor, {
      id: ID.slice(0, 32),
      pubkey: ID,
      hello: hello(5),
      inbound: true,
    })
    assert.deepEqual(h.caps, ['eth/68'])
    assert.equal(h.inbound, true)
    const values = firstValueFrom(h.snapshot$.pipe(take(2), toArray()))
    h.disconnect(DiscReason.Requested)
    assert.deepEqual(
      (await values).map((s) => s.value),
      ['a', 'b'],
    )
    assert.deepEqual(received, [{ type: 'peer.disconnect', reason: DiscReason.Requested }])
  })
})
