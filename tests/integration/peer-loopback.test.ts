// Our node ↔ our node over 127.0.0.1 through actors/peer.ts startPeer (RlpxConnection + peer machine): dialled
// and accepted sides, snappy on (Hello v5) and off (a side advertising v4; checked on the wire byte counters),
// payloads 0 B to 16 MiB−1 through a protocol, several protocols at once with geth's offsets, Ping/Pong,
// Disconnect with a reason (requestedByRemote on the other side, echoed), checkpoint rejection, no leaks.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { firstValueFrom, take, toArray } from 'rxjs'
import { createCheckpointSupervisor, startPeer } from '../../actors/peer.ts'
import { bytesToHex, equalBytes } from '../../codecs/bytes.ts'
import { DiscReason, P2P_MSG } from '../../codecs/p2p.ts'
import type { Msg } from '../../machines/protocol.ts'
import {
  assertNoLeaks,
  connectPair,
  dial,
  echoProtocol,
  listen,
  newKeys,
  nextMessages,
  probeProtocol,
  resourceCounts,
} from '../helpers/peers.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function compressible(n: number): Uint8Array {
  const block = randomBytes(4096)
  const out = new Uint8Array(n)
  for (let o = 0; o < n; o += block.length) out.set(block.subarray(0, Math.min(block.length, n - o)), o)
  return out
}

describe('peer over loopback', () => {
  it('dialled and accepted peers reach running and see each other’s Hello', async () => {
    const base = resourceCounts()
    const p = await connectPair({
      a: { name: 'alice/v1', protocols: [echoProtocol('foo', 1, 4)] },
      b: { name: 'bob/v2', protocols: [echoProtocol('foo', 1, 4), echoProtocol('bar', 3, 2)] },
    })
    const [ha, hb] = await Promise.all([p.a.ready, p.b.ready])
    // a's handle describes b, and vice versa
    assert.equal(ha.name, 'bob/v2')
    assert.deepEqual(ha.caps, ['foo/1', 'bar/3'])
    assert.equal(ha.inbound, false)
    assert.ok(equalBytes(ha.id, p.kb.id))
    assert.ok(equalBytes(ha.pubkey, p.kb.pub))
    assert.equal(hb.name, 'alice/v1')
    assert.deepEqual(hb.caps, ['foo/1'])
    assert.equal(hb.inbound, true)
    assert.ok(equalBytes(hb.id, p.ka.id))
    assert.equal(p.a.inbound, false)
    assert.equal(p.b.inbound, true)
    // snapshot$ replays the current snapshot first
    const snap = await firstValueFrom(p.a.snapshot$)
    assert.ok(snap.matches('running'))
    assert.equal(p.a.connection.snappy, true)
    assert.equal(p.b.connection.snappy, true)
    await p.close()
    assert.deepEqual(await p.a.dropped, { reason: DiscReason.Quitting, requestedByRemote: false })
    await assertNoLeaks(base)
  })

  for (const [label, versions, snappy] of [
    ['both v5: snappy', [5, 5], true],
    ['a advertises v4: no snappy', [4, 5], false],
    ['b advertises v4: no snappy', [5, 4], false],
  ] as const) {
    it(`snappy negotiation, ${label} (wire byte counters)`, async () => {
      const probe = probeProtocol('foo', 1, 2)
      const seen: Msg[] = []
      const p = await connectPair({
        a: { localHello: { version: versions[0] }, protocols: [probe.protocol] },
        b: { localHello: { version: versions[1] }, protocols: [echoProtocol('foo', 1, 2, seen)] },
      })
      await Promise.all([p.a.ready, p.b.ready])
      assert.equal(p.a.connection.snappy, snappy)
      assert.equal(p.b.connection.snappy, snappy)
      const rw = await probe.rw
      const payload = compressible(1 << 20)
      const back = nextMessages(rw, 1)
      const before = p.a.connection.egressBytes
      await rw.send(1, payload)
      const echoed = (await back)[0]!
      assert.ok(equalBytes(echoed.payload, payload))
      assert.equal(seen[0]!.size, payload.length)
      const wire = p.a.connection.egressBytes - before
      if (snappy) assert.ok(wire < payload.length / 5, `wire ${wire}`)
      else assert.ok(wire > payload.length, `wire ${wire}`)
      await p.close()
    })
  }

  it('protocol payloads 0 B … 16 MiB−1 (snappy on) are echoed intact', async () => {
    const base = resourceCounts()
    const probe = probeProtocol('foo', 1, 3)
    const p = await connectPair({
      a: { protocols: [probe.protocol] },
      b: { protocols: [echoProtocol('foo', 1, 3)] },
    })
    await p.a.ready
    const rw = await probe.rw
    const payloads = [0, 1, 100, 1024, 65_536, 1 << 20].map((n) => randomBytes(n) as Uint8Array)
    payloads.push(compressible(0xffffff))
    const back = nextMessages(rw, payloads.length)
    for (const [i, pl] of payloads.entries()) await rw.send(i % 3, pl)
    const got = await back
    for (const [i, m] of got.entries()) {
      assert.equal(m.code, i % 3)
      assert.ok(equalBytes(m.payload, payloads[i]!), `payload ${i} (${payloads[i]!.length} B)`)
    }
    // codes ≥ the protocol's length are refused locally
    await assert.rejects(rw.send(3, new Uint8Array(0)), { code: 'INVALID_MSG_CODE' })
    await p.close()
    await assertNoLeaks(base)
  })

  it('several protocols at once: geth offsets from 0x10 in name order, highest shared version', async () => {
    const probes = {
      aaa: probeProtocol('aaa', 1, 3),
      bbb: probeProtocol('bbb', 2, 5),
      ccc: probeProtocol('ccc', 1, 2),
    }
    const seen: Record<string, Msg[]> = { aaa: [], bbb: [], ccc: [] }
    const bTap: Msg[] = []
    const p = await connectPair({
      // a lists them out of order and also runs bbb/1 (length 9): bbb/2 must win
      a: {
        protocols: [
          probes.ccc.protocol,
          probeProtocol('bbb', 1, 9).protocol,
          probes.bbb.protocol,
          probes.aaa.protocol,
        ],
      },
      b: {
        protocols: [
          echoProtocol('aaa', 1, 3, seen.aaa),
          echoProtocol('bbb', 1, 9),
          echoProtocol('bbb', 2, 5, seen.bbb),
          echoProtocol('ccc', 1, 2, seen.ccc),
          echoProtocol('zzz', 1, 4), // a does not run it
        ],
      },
    })
    await Promise.all([p.a.ready, p.b.ready])
    const sub = p.b.connection.messages$.subscribe((m) => bTap.push(m))
    const rws = { aaa: await probes.aaa.rw, bbb: await probes.bbb.rw, ccc: await probes.ccc.rw }
    const backs = {
      aaa: nextMessages(rws.aaa, 3),
      bbb: nextMessages(rws.bbb, 5),
      ccc: nextMessages(rws.ccc, 2),
    }
    for (const [name, n] of [
      ['aaa', 3],
      ['bbb', 5],
      ['ccc', 2],
    ] as const) {
      for (let c = 0; c < n; c++) await rws[name].send(c, Uint8Array.of(name.charCodeAt(0), c))
    }
    for (const [name, n] of [
      ['aaa', 3],
      ['bbb', 5],
      ['ccc', 2],
    ] as const) {
      const got = await backs[name]
      assert.deepEqual(
        got.map((m) => [m.code, m.payload[0], m.payload[1]]),
        Array.from({ length: n }, (_, c) => [c, name.charCodeAt(0), c]),
      )
      assert.deepEqual(
        seen[name]!.map((m) => m.code),
        Array.from({ length: n }, (_, c) => c),
      )
    }
    // on the wire: aaa at 0x10–0x12, bbb/2 at 0x13–0x17, ccc at 0x18–0x19
    const wireCodes = bTap.filter((m) => m.code >= 0x10).map((m) => m.code)
    assert.deepEqual(wireCodes, [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19])
    sub.unsubscribe()
    await p.close()
  })

  it('Ping/Pong: each side pings on its interval and answers Pongs; peers stay up', async () => {
    const p = await connectPair({ a: { timeouts: { ping: 40 } }, b: { timeouts: { ping: 40 } } })
    await Promise.all([p.a.ready, p.b.ready])
    const tapA: Msg[] = []
    const tapB: Msg[] = []
    const sa = p.a.connection.messages$.subscribe((m) => tapA.push(m))
    const sb = p.b.connection.messages$.subscribe((m) => tapB.push(m))
    await sleep(250)
    for (const tap of [tapA, tapB]) {
      const pings = tap.filter((m) => m.code === P2P_MSG.ping).length
      const pongs = tap.filter((m) => m.code === P2P_MSG.pong).length
      assert.ok(pings >= 3, `pings ${pings}`)
      assert.ok(pongs >= 3, `pongs ${pongs}`)
    }
    assert.ok(p.a.actor.getSnapshot().matches('running'))
    assert.ok(p.b.actor.getSnapshot().matches('running'))
    sa.unsubscribe()
    sb.unsubscribe()
    await p.close()
  })

  for (const reason of [DiscReason.TooManyPeers, DiscReason.Requested, DiscReason.SubprotocolError]) {
    it(`Disconnect ${reason}: the other side drops with it, requestedByRemote, and echoes it`, async () => {
      const base = resourceCounts()
      const p = await connectPair()
      await Promise.all([p.a.ready, p.b.ready])
      const echoesBefore = p.b.connection.egressMessages
      p.a.disconnect(reason)
      assert.deepEqual(await p.a.dropped, { reason, requestedByRemote: false })
      assert.deepEqual(await p.b.dropped, { reason, requestedByRemote: true })
      await Promise.all([p.a.closed, p.b.closed])
      // b wrote exactly one more frame (the echo), and a received every byte b wrote
      assert.equal(p.b.connection.egressMessages, echoesBefore + 1)
      assert.equal(p.a.connection.ingressBytes, p.b.connection.egressBytes)
      await p.close()
      await assertNoLeaks(base)
    })
  }

  it('a protocol returning drops both peers with DiscQuitting', async () => {
    const p = await connectPair({
      a: { protocols: [{ name: 'foo', version: 1, length: 1, run: async () => {} }] },
      b: { protocols: [echoProtocol('foo', 1, 1)] },
    })
    assert.deepEqual(await p.a.dropped, { reason: DiscReason.Quitting, requestedByRemote: false })
    assert.deepEqual(await p.b.dropped, { reason: DiscReason.Quitting, requestedByRemote: true })
    await p.close()
  })

  it('a checkpoint rejection drops both: Disconnect(TooManyPeers) reaches the dialler', async () => {
    const base = resourceCounts()
    const l = await listen()
    const ka = newKeys()
    const kb = newKeys()
    const seen: string[] = []
    const supervisor = createCheckpointSupervisor((cp) => {
      seen.push(cp.type)
      return cp.type === 'checkpoint.addPeer' ? DiscReason.TooManyPeers : null
    })
    const a = startPeer({
      socket: dial(l.port),
      privateKey: ka.priv,
      dialDest: { id: kb.id, pubkey: kb.pub },
    })
    const b = startPeer({ socket: await l.accept(), privateKey: kb.priv, supervisor })
    assert.deepEqual(await b.dropped, { reason: DiscReason.TooManyPeers, requestedByRemote: false })
    assert.deepEqual(await a.dropped, { reason: DiscReason.TooManyPeers, requestedByRemote: true })
    await assert.rejects(b.ready, { name: 'PeerDroppedError' })
    assert.deepEqual(seen, ['checkpoint.postHandshake', 'checkpoint.addPeer'])
    await Promise.all([a.closed, b.closed])
    supervisor.stop()
    await l.close()
    await assertNoLeaks(base)
  })

  it('the supervisor sees ids and both checkpoints carry the right facts; inspect receives events', async () => {
    const l = await listen()
    const ka = newKeys()
    const kb = newKeys()
    const cps: { type: string; id: string; inbound: boolean; dialed: boolean }[] = []
    const supervisor = createCheckpointSupervisor((cp) => {
      cps.push({ type: cp.type, id: bytesToHex(cp.id), inbound: cp.inbound, dialed: cp.dialed })
      return null
    })
    let inspected = 0
    const a = startPeer({
      socket: dial(l.port),
      privateKey: ka.priv,
      dialDest: { id: kb.id, pubkey: kb.pub },
      supervisor,
      inspect: () => inspected++,
    })
    const b = startPeer({ socket: await l.accept(), privateKey: kb.priv })
    await Promise.all([a.ready, b.ready])
    assert.deepEqual(cps, [
      { type: 'checkpoint.postHandshake', id: bytesToHex(kb.id), inbound: false, dialed: true },
      { type: 'checkpoint.addPeer', id: bytesToHex(kb.id), inbound: false, dialed: true },
    ])
    assert.ok(inspected > 5)
    b.disconnect(DiscReason.Requested)
    await Promise.all([a.closed, b.closed])
    supervisor.stop()
    await l.close()
  })

  it('a dial to a closed port drops with NetworkError and leaks nothing', async () => {
    const base = resourceCounts()
    const l = await listen()
    const port = l.port
    await l.close()
    const kb = newKeys()
    const a = startPeer({
      socket: dial(port),
      privateKey: newKeys().priv,
      dialDest: { id: kb.id, pubkey: kb.pub },
    })
    const out = await a.dropped
    assert.equal(out.reason, DiscReason.NetworkError)
    assert.equal((out.error as { details?: { errno?: string } }).details?.errno, 'ECONNREFUSED')
    await a.closed
    await assertNoLeaks(base)
  })

  it('disconnect() before the handshake finishes drops at once; the remote sees the connection close', async () => {
    const base = resourceCounts()
    const l = await listen()
    const kb = newKeys()
    const a = startPeer({
      socket: dial(l.port),
      privateKey: newKeys().priv,
      dialDest: { id: kb.id, pubkey: kb.pub },
    })
    const remote = await l.accept()
    a.disconnect(DiscReason.Quitting)
    assert.deepEqual(await a.dropped, { reason: DiscReason.Quitting, requestedByRemote: false })
    remote.resume()
    await new Promise((r) => remote.once('close', r))
    await a.closed
    await l.close()
    await assertNoLeaks(base)
  })

  it('stopping the actor from outside sends Disconnect(Quitting) and releases everything', async () => {
    const base = resourceCounts()
    const p = await connectPair()
    await Promise.all([p.a.ready, p.b.ready])
    p.a.actor.stop()
    assert.deepEqual(await p.a.dropped, { reason: DiscReason.Quitting, requestedByRemote: false })
    assert.deepEqual(await p.b.dropped, { reason: DiscReason.Quitting, requestedByRemote: true })
    await p.close()
    await assertNoLeaks(base)
  })

  it('many pairs at once all reach running and close cleanly', async () => {
    const base = resourceCounts()
    const pairs = await Promise.all(Array.from({ length: 8 }, () => connectPair()))
    await Promise.all(pairs.flatMap((p) => [p.a.ready, p.b.ready]))
    const sums = await Promise.all(pairs.map((p) => firstValueFrom(p.b.snapshot$.pipe(take(1), toArray()))))
    assert.ok(sums.every((s) => s[0]!.matches('running')))
    await Promise.all(pairs.map((p) => p.close()))
    await assertNoLeaks(base)
  })
})
