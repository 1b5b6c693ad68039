// Burst of inbound connections that never handshake against a createServer node (issue 4 "Proof: Burst"):
// 300 TCP connections opened at once to 127.0.0.1 → the listener hands at most maxPendingPeers of them to the
// server at any time (sampled from stats() and from the peer machines' snapshots, through the `inspect` option,
// while the burst runs; the supervisor records none of them: they never pass post-handshake), every one
// ends by the ECIES handshake timeout (shortened through peerTimeouts.handshake; geth's is 5 s) and is counted as
// an rlpx_enc serve error, heap after GC and the process's handles return to their baseline, and the server still
// accepts a real peer afterwards.
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { AnyActorRef, InspectionEvent } from 'xstate'
import { assertNoLeaks, makeNode, metric, resources, stopAll, waitUntil } from './server-helpers.ts'

const BURST = 300
const MAX_PENDING = 50
const HANDSHAKE_TIMEOUT_MS = 400
/** heap after GC may grow by at most this much over the burst (JIT code and feedback settle; 300 leaked connections would be ≥ 3 MB) */
const HEAP_SLACK = 1_500_000

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise<void>((r) => setImmediate(r))
  }
  return process.memoryUsage().heapUsed
}

const HANDSHAKE_STATES = ['pendingHandshake', 'encHandshakeChecks', 'protoHandshake', 'protoHandshakeChecks']

/**
 * Live peer machines and how many of them are in their handshakes, from XState inspection (createServer's
 * `inspect`); the peaks are taken once the current step settled: the listener hands the next socket over from
 * inside the closing action of the machine that freed the slot, before that machine's own snapshot says
 * `dropped`.
 */
function peerMachines() {
  const live = new Map<string, boolean>()
  const peak = { alive: 0, handshaking: 0 }
  let queued = false
  const count = () => {
    queued = false
    let n = 0
    for (const h of live.values()) if (h) n++
    peak.alive = Math.max(peak.alive, live.size)
    peak.handshaking = Math.max(peak.handshaking, n)
  }
  const inspect = (ev: InspectionEvent) => {
    if (ev.type !== '@xstate.snapshot') return
    const ref = ev.actorRef as AnyActorRef
    if (!ref.id.startsWith('peer:')) return
    const snap = ev.snapshot as { status: string; matches?(v: string): boolean }
    const key = ref.sessionId
    if (snap.status !== 'active') live.delete(key)
    else
      live.set(
        key,
        HANDSHAKE_STATES.some((st) => snap.matches?.(st)),
      )
    if (!queued) {
      queued = true
      queueMicrotask(count)
    }
  }
  return { inspect, peak, live }
}

/** Open `n` connections to 127.0.0.1:port at once (never writing); resolves when all were closed by the remote. */
function burst(port: number, n: number): { sockets: Socket[]; allClosed: Promise<number> } {
  const sockets: Socket[] = []
  const closes: Promise<void>[] = []
  for (let i = 0; i < n; i++) {
    const s = connect({ host: '127.0.0.1', port })
    s.on('error', () => {})
    s.resume()
    sockets.push(s)
    closes.push(new Promise<void>((r) => s.once('close', () => r())))
  }
  return { sockets, allClosed: Promise.all(closes).then(() => n) }
}

describe('server under a burst of silent inbound connections', () => {
  it(`${BURST} connections at once: ≤ ${MAX_PENDING} pending, all time out, heap and handles back, still serves`, async (t) => {
    const base = resources()
    const machines = peerMachines()
    const server = makeNode({
      inspect: machines.inspect,
      maxPendingPeers: MAX_PENDING,
      maxPeers: 10,
      peerTimeouts: { handshake: HANDSHAKE_TIMEOUT_MS },
    })
    const nodes = [server]
    try {
      await server.srv.start()
      const port = server.srv.self().tcp!

      // warm-up: one small burst so the code for these paths is compiled before the heap baseline
      await burst(port, 20).allClosed
      await waitUntil(() => server.srv.stats().connections === 0, 5000, 'warm-up connections closed')
      const running = resources()
      const heap0 = await heapAfterGc()

      let maxPending = 0
      let maxConns = 0
      machines.peak.alive = 0
      machines.peak.handshaking = 0
      let snapshots = 0
      let maxRecorded = 0
      const sub = server.srv.snapshot$.subscribe((s) => {
        snapshots++
        maxRecorded = Math.max(maxRecorded, s.context.conns.size)
      })
      let sampling = true
      let samples = 0
      const sampler = (async () => {
        while (sampling) {
          const st = server.srv.stats()
          maxPending = Math.max(maxPending, st.inboundPending)
          maxConns = Math.max(maxConns, st.connections)
          samples++
          await new Promise<void>((r) => setTimeout(r, 1))
        }
      })()

      const t0 = performance.now()
      const b = burst(port, BURST)
      // the burst is really under way: the listener fills its slots and parks the rest
      await waitUntil(
        () => server.srv.stats().inboundPending === MAX_PENDING && server.srv.stats().inboundWaiting > 0,
        5000,
        'slots full with connections waiting',
      )
      const closed = await b.allClosed
      const elapsed = performance.now() - t0
      sampling = false
      await sampler
      sub.unsubscribe()

      assert.equal(closed, BURST)
      assert.ok(samples > 20, `sampled only ${samples} times`)
      assert.ok(snapshots > 0)
      assert.equal(maxPending, MAX_PENDING, 'listener slots in use peaked at maxPendingPeers')
      // stats().connections also counts connections whose socket is still closing after its peer machine ended
      // (the slot is released when the machine closes the connection, as geth's SetupConn returning), so up to
      // one more wave may overlap the next one there — but never more than that
      assert.ok(maxConns <= 2 * MAX_PENDING, `${maxConns} RLPx connections open at once`)
      const { alive: maxAlive, handshaking: maxHandshaking } = machines.peak
      assert.ok(maxHandshaking > 0)
      assert.ok(maxHandshaking <= MAX_PENDING, `${maxHandshaking} peer machines in their handshakes at once`)
      assert.ok(maxAlive <= MAX_PENDING, `${maxAlive} peer machines alive at once`)
      // their done events reach the supervisor, which never recorded them (they never passed post-handshake)
      assert.equal(maxRecorded, 0, 'the supervisor recorded a connection that never handshook')
      // they were served in waves of at most maxPendingPeers, each ending by the handshake timeout
      const waves = Math.ceil(BURST / MAX_PENDING)
      assert.ok(
        elapsed >= (waves - 1) * HANDSHAKE_TIMEOUT_MS,
        `${BURST} silent connections all closed after ${elapsed.toFixed(0)} ms (< ${waves} waves of ${HANDSHAKE_TIMEOUT_MS} ms)`,
      )
      assert.equal(await metric(server.registry, 'p2p_serves'), BURST + 20)
      assert.equal(await metric(server.registry, 'p2p_serves_error_rlpx_enc'), BURST + 20)
      assert.equal(server.srv.peerCount(), 0)

      const st = server.srv.stats()
      assert.deepEqual(st, { peers: 0, connections: 0, inboundPending: 0, inboundWaiting: 0 })
      const snap = await new Promise<number>((r) =>
        server.srv.snapshot$.subscribe((s) => r(s.context.conns.size)).unsubscribe(),
      )
      assert.equal(snap, 0, 'no peer machine left in the supervisor')
      assert.equal(machines.live.size, 0, 'no peer machine left')
      await assertNoLeaks(running)
      const heap1 = await heapAfterGc()
      t.diagnostic(
        `burst of ${BURST}: closed after ${elapsed.toFixed(0)} ms; peaks: ${maxPending} slots, ${maxHandshaking} handshaking, ` +
          `${maxAlive} machines, ${maxConns} connections; heap after GC ${((heap1 - heap0) / 1000).toFixed(0)} kB over baseline`,
      )
      assert.ok(
        heap1 - heap0 < HEAP_SLACK,
        `heap after GC grew by ${((heap1 - heap0) / 1000).toFixed(0)} kB over the burst`,
      )

      // a real peer is still accepted
      const client = makeNode({ staticNodes: [server.enode()] })
      nodes.push(client)
      await client.srv.start()
      await waitUntil(
        () => server.srv.peerCount() === 1 && client.srv.peerCount() === 1,
        5000,
        'real peer connected after the burst',
      )
      assert.equal(server.srv.peers()[0]?.inbound, true)
      assert.equal(await metric(server.registry, 'p2p_serves_success'), 1)
      for (const s of b.sockets) s.destroy()
    } finally {
      await stopAll(nodes)
    }
    await assertNoLeaks(base)
  })
})
