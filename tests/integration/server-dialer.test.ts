// The dial glue (actors/dialer.ts): the candidate source subscribes to its sources only while the supervisor
// reports free slots (back-pressure), forwards nodes as dial.candidate; the TCP connect actor counts attempts and
// failures and closes a connection its stopped dial task never handed over; the resolve actor maps "not found".
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { Observable } from 'rxjs'
import { createActor, setup } from 'xstate'
import {
  createCandidateLogic,
  createConnectLogic,
  createResolveLogic,
  tcpConnect,
} from '../../actors/dialer.ts'
import type { Node } from '../../codecs/node.ts'
import { waitUntil } from './server-helpers.ts'

const node = (n: number, tcp?: number): Node => ({
  id: new Uint8Array(32).fill(n),
  pubkey: new Uint8Array(64).fill(n),
  ip: '127.0.0.1',
  ...(tcp !== undefined ? { tcp, udp: tcp } : {}),
})

describe('dialer glue', () => {
  it('candidates: subscribed only while demand > 0; nodes go to the parent as dial.candidate', async () => {
    let subscribed = 0
    let active = 0
    let emit: ((n: Node) => void) | undefined
    const source$ = new Observable<Node>((sub) => {
      subscribed++
      active++
      emit = (n) => sub.next(n)
      return () => {
        active--
        emit = undefined
      }
    })
    const got: Node[] = []
    const parent = setup({
      actors: { candidates: createCandidateLogic([source$]) },
    }).createMachine({
      invoke: { id: 'candidates', src: 'candidates', input: { demand: 0 } },
      on: {
        'dial.candidate': { actions: ({ event }) => got.push((event as unknown as { node: Node }).node) },
        demand: {
          actions: ({ self, event }) =>
            (self.getSnapshot().children as Record<string, { send(e: unknown): void }>).candidates!.send({
              type: 'candidates.demand',
              count: (event as unknown as { count: number }).count,
            }),
        },
      },
    })
    const actor = createActor(parent)
    actor.start()
    assert.equal(active, 0, 'no demand: not subscribed')
    actor.send({ type: 'demand', count: 3 } as never)
    assert.equal(active, 1)
    emit!(node(1))
    emit!(node(2))
    assert.deepEqual(
      got.map((n) => n.id[0]),
      [1, 2],
    )
    actor.send({ type: 'demand', count: 1 } as never)
    assert.equal(subscribed, 1, 'a change of demand above zero keeps the subscription')
    actor.send({ type: 'demand', count: 0 } as never)
    assert.equal(active, 0, 'zero demand: unsubscribed (no more lookups)')
    actor.send({ type: 'demand', count: 2 } as never)
    assert.equal(subscribed, 2)
    actor.stop()
    assert.equal(active, 0, 'stopping the source unsubscribes')
  })

  it('connect: attempts and failures are counted; a refused port rejects', async () => {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    const accepted: Socket[] = []
    server.on('connection', (s) => accepted.push(s))
    let attempts = 0
    let failures = 0
    const taken = new Set<Socket>()
    let take = true
    const logic = createConnectLogic<Socket>({
      open: (s) => {
        if (take) taken.add(s)
        return s
      },
      adopted: (s) => taken.has(s),
      close: (s) => s.destroy(),
      onAttempt: () => attempts++,
      onFailure: () => failures++,
    })
    const opened: Socket[] = []
    try {
      const ok = createActor(logic, { input: { node: node(1, port) } })
      const done = new Promise((resolve, reject) =>
        ok.subscribe({ complete: () => resolve(ok.getSnapshot().output), error: reject }),
      )
      ok.start()
      const sock = (await done) as Socket
      opened.push(sock)
      assert.equal(sock.remotePort, port)
      await new Promise((r) => setImmediate(r))
      assert.equal(sock.destroyed, false, 'taken over: left open')
      // a connection nobody takes over (its dial task ended meanwhile) is closed
      take = false
      const orphan = createActor(logic, { input: { node: node(3, port) } })
      const lost = new Promise<Socket>((resolve, reject) =>
        orphan.subscribe({ complete: () => resolve(orphan.getSnapshot().output as Socket), error: reject }),
      )
      orphan.start()
      const lostSock = await lost
      opened.push(lostSock)
      await waitUntil(() => lostSock.destroyed, 5_000, 'orphan closed')
      sock.destroy()
      await waitUntil(() => accepted.length === 2, 5_000, 'accepted')
      server.close()
      const refused = createActor(logic, { input: { node: node(2, port) } })
      // settles either way, so a connect that unexpectedly succeeds fails the match instead of hanging
      const err = new Promise((resolve) =>
        refused.subscribe({ error: resolve, complete: () => resolve('completed, not refused') }),
      )
      refused.start()
      assert.match(String(await err), /ECONNREFUSED/)
      assert.deepEqual([attempts, failures], [3, 1])
    } finally {
      // a failed assertion must not leave the server or a socket open (the process would never exit)
      for (const s of [...opened, ...accepted]) s.destroy()
      if (server.listening) server.close()
    }
    await assert.rejects(tcpConnect('127.0.0.1', port, AbortSignal.abort()), /aborted/)
  })

  it('connect: a port node:net refuses at once fails the task as a connection failure', async () => {
    let failures = 0
    const logic = createConnectLogic<Socket>({ open: (s) => s, onFailure: () => failures++ })
    const a = createActor(logic, { input: { node: node(4, 70_000) } })
    const err = new Promise((resolve) =>
      a.subscribe({ error: resolve, complete: () => resolve('completed, not failed') }),
    )
    a.start()
    assert.match(String(await err), /ERR_SOCKET_BAD_PORT|out of range|port/i)
    assert.equal(failures, 1)
    await assert.rejects(tcpConnect('127.0.0.1', 70_000), /port/i)
  })

  it('resolve: a result without an endpoint, a failure or no resolver is null', async () => {
    const run = async (r?: (n: Node) => Promise<Node>) => {
      const a = createActor(createResolveLogic(r), { input: { node: node(1) } })
      const out = new Promise((resolve) => a.subscribe({ complete: () => resolve(a.getSnapshot().output) }))
      a.start()
      return out
    }
    assert.equal(await run(), null)
    assert.equal(await run(async (n) => n), null)
    assert.equal(await run(async () => Promise.reject(new Error('x'))), null)
    const found = (await run(async () => node(3, 30303))) as Node
    assert.equal(found.tcp, 30303)
  })
})
