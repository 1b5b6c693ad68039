// The accept loop (actors/listener.ts) on loopback: maxPendingPeers slots with parked sockets, the 30 s
// per-IP inbound throttle for non-LAN addresses (simulated with an injected isLan), LAN exemption, netrestrict,
// and the same throttle through createServer.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { type InboundRejection, listen } from '../../actors/listener.ts'
import { assertNoLeaks, makeNode, metric, resources, sleep, waitUntil } from './server-helpers.ts'

/** Open a TCP connection to 127.0.0.1:port (from `localAddress` if given); resolves once connected. */
async function open(port: number, localAddress?: string): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) })
  s.on('error', () => {})
  await once(s, 'connect')
  return s
}

/** Whether the remote closed `s` within `ms`. */
function closedWithin(s: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed || s.readableEnded) return resolve(true)
    const t = setTimeout(() => resolve(false), ms)
    s.once('close', () => {
      clearTimeout(t)
      resolve(true)
    })
    s.once('end', () => {
      clearTimeout(t)
      resolve(true)
    })
    s.resume()
  })
}

/** A listener that treats every address as non-LAN (throttled) on a clock the test sets. */
async function throttledListener() {
  const rejected: InboundRejection[] = []
  const handed: Socket[] = []
  const time = { clock: 1_000_000 }
  const l = await listen({
    host: '127.0.0.1',
    port: 0,
    isLan: () => false,
    now: () => time.clock,
    onConnection: (s) => handed.push(s),
    onRejected: (_, r) => rejected.push(r),
  })
  return Object.assign(time, { rejected, handed, l })
}

describe('listener', () => {
  it('holds at most maxPendingPeers connections in setup; the rest wait parked until a slot frees', async () => {
    const baseline = resources()
    const handed: { socket: Socket; release(): void }[] = []
    const l = await listen({
      host: '127.0.0.1',
      port: 0,
      maxPendingPeers: 2,
      onConnection: (socket, release) => handed.push({ socket, release }),
    })
    const clients = await Promise.all(Array.from({ length: 5 }, () => open(l.address().port)))
    try {
      await waitUntil(() => handed.length + l.waiting() === 5, 10_000, 'all accepted')
      assert.equal(handed.length, 2)
      assert.equal(l.pending(), 2)
      assert.equal(l.waiting(), 3)
      // a parked socket is not read: nothing is consumed until it gets a slot
      clients[4]!.write('hello')
      handed[0]!.release()
      handed[0]!.release() // idempotent
      await waitUntil(() => handed.length === 3, 10_000, 'next one handed over')
      assert.equal(l.pending(), 2)
      assert.equal(l.waiting(), 2)
      // a parked client that goes away is dropped from the queue when its slot comes
      clients[3]!.destroy()
      for (const h of handed.slice(1)) h.release()
      await waitUntil(() => l.pending() + l.waiting() <= 2, 10_000, 'drained')
      assert.equal(l.waiting(), 0)
    } finally {
      for (const c of clients) c.destroy()
      for (const h of handed) h.socket.destroy()
      await l.close()
    }
    await assertNoLeaks(baseline)
  })

  it('close() destroys parked sockets', async () => {
    const handed: Socket[] = []
    const l = await listen({
      host: '127.0.0.1',
      port: 0,
      maxPendingPeers: 1,
      onConnection: (s) => handed.push(s),
    })
    const clients: Socket[] = []
    let closing: Promise<void> | undefined
    try {
      clients.push(await open(l.address().port))
      const b = await open(l.address().port)
      clients.push(b)
      await waitUntil(() => l.waiting() === 1, 10_000, 'parked')
      closing = l.close()
      assert.equal(await closedWithin(b, 10_000), true)
    } finally {
      for (const c of clients) c.destroy()
      for (const s of handed) s.destroy()
      await (closing ?? l.close())
    }
  })

  it('throttles a second attempt from one non-LAN address within 30 s; LAN addresses are exempt', async () => {
    const t = await throttledListener()
    const { rejected, handed, l: internet } = t
    const lan = await listen({ host: '127.0.0.1', port: 0, onConnection: (s) => handed.push(s) })
    const clients: Socket[] = []
    try {
      clients.push(await open(internet.address().port))
      const second = await open(internet.address().port)
      clients.push(second)
      assert.equal(await closedWithin(second, 10_000), true)
      assert.deepEqual(rejected, ['throttled'])
      t.clock += 29_999
      const third = await open(internet.address().port)
      clients.push(third)
      assert.equal(await closedWithin(third, 10_000), true)
      // the history entry is added on the first accepted attempt only; it expires 30 s after that
      t.clock += 2
      const fourth = await open(internet.address().port)
      clients.push(fourth)
      assert.equal(await closedWithin(fourth, 200), false)
      assert.deepEqual(rejected, ['throttled', 'throttled'])

      for (let i = 0; i < 3; i++) clients.push(await open(lan.address().port))
      for (const c of clients.slice(-3)) assert.equal(await closedWithin(c, 100), false)
      assert.equal(handed.length, 5)
    } finally {
      for (const c of clients) c.destroy()
      for (const s of handed) s.destroy()
      await Promise.all([internet.close(), lan.close()])
    }
  })

  it('expires the throttle of each address on time even after the clock went backwards', async () => {
    const t = await throttledListener()
    const { rejected, handed, l } = t
    const clients: Socket[] = []
    try {
      const port = l.address().port
      clients.push(await open(port, '127.0.0.1')) // throttled until 1 030 000
      t.clock = 950_000 // the clock steps back
      clients.push(await open(port, '127.0.0.2')) // throttled until 980 000, behind the first entry
      t.clock = 990_000
      // 127.0.0.2's entry expired although 127.0.0.1's, inserted before it, has not
      const again = await open(port, '127.0.0.2')
      clients.push(again)
      assert.equal(await closedWithin(again, 200), false)
      const first = await open(port, '127.0.0.1')
      clients.push(first)
      assert.equal(await closedWithin(first, 10_000), true)
      assert.deepEqual(rejected, ['throttled'])
      assert.equal(handed.length, 3)
    } finally {
      for (const c of clients) c.destroy()
      for (const s of handed) s.destroy()
      await l.close()
    }
  })

  it('closes connections from outside netrestrict', async () => {
    const rejected: InboundRejection[] = []
    const l = await listen({
      host: '127.0.0.1',
      port: 0,
      netRestrict: { contains: (ip) => ip.startsWith('10.') },
      onConnection: () => assert.fail('not admitted'),
      onRejected: (_, r) => rejected.push(r),
    })
    let c: Socket | undefined
    try {
      c = await open(l.address().port)
      assert.equal(await closedWithin(c, 10_000), true)
      assert.deepEqual(rejected, ['netrestrict'])
    } finally {
      c?.destroy()
      await l.close()
    }
  })

  it('through createServer: a second attempt from a (simulated) Internet address is refused', async () => {
    const s = makeNode({ isLan: () => false, peerTimeouts: { handshake: 5000 } })
    await s.srv.start()
    const port = s.srv.self().tcp!
    const p = makeNode()
    const sockets: Socket[] = []
    try {
      const first = await open(port)
      sockets.push(first)
      const second = await open(port)
      sockets.push(second)
      assert.equal(await closedWithin(second, 10_000), true)
      assert.equal(await closedWithin(first, 200), false)
      assert.equal(await metric(s.registry, 'p2p_serves'), 1)
      // a real node from the same address is refused too, until the 30 s pass
      await p.srv.start()
      p.srv.addPeer(s.enode())
      // poll for the failed dial instead of sleeping a fixed time (a loaded machine may need longer)
      for (const until = Date.now() + 10_000; Date.now() < until; await sleep(20)) {
        if ((await metric(p.registry, 'p2p_dials_error_rlpx_enc')) > 0) break
      }
      assert.equal(p.srv.peerCount(), 0)
      assert.equal(await metric(p.registry, 'p2p_dials_error_rlpx_enc'), 1)
    } finally {
      for (const c of sockets) c.destroy()
      await Promise.all([p.srv.stop(), s.srv.stop()])
    }
  })
})
