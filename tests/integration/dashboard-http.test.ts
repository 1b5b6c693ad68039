// The dashboard's HTTP side (cli/dashboard/http.ts) on 127.0.0.1 over a synthetic aggregate: the page, /state.json,
// SSE `full` then throttled `delta` messages, the Host guard, unknown paths and methods, and close() ending every
// stream so nothing is left open.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import { createAggregate } from '../../cli/dashboard/aggregate.ts'
import { describeMachine } from '../../cli/dashboard/chart.ts'
import { createDevnetDashboard } from '../../cli/dashboard/devnet.ts'
import { startDashboardServer } from '../../cli/dashboard/http.ts'
import { peerMachine } from '../../machines/peer.machine.ts'
import { serverMachine } from '../../machines/server.machine.ts'
import { openSse } from '../helpers/sse.ts'

const mk = () =>
  createAggregate({
    nodes: 2,
    peerChart: describeMachine(peerMachine),
    serverChart: describeMachine(serverMachine),
    now: Date.now(),
  })

function raw(
  url: string,
  opts: { method?: string; host?: string } = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: opts.method ?? 'GET', headers: opts.host ? { host: opts.host } : {} },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c) => {
          body += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

describe('dashboard HTTP server', () => {
  it('serves the page, /state.json and SSE full + deltas; close() ends the streams', async () => {
    const agg = mk()
    const d = await startDashboardServer({ aggregate: agg, port: 0, intervalMs: 50 })
    try {
      assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
      const page = await raw(d.url)
      assert.equal(page.status, 200)
      assert.match(String(page.headers['content-type']), /^text\/html/)
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'/)
      for (const s of [
        'pendingHandshake',
        'encHandshakeChecks',
        'protoHandshakeChecks',
        'running',
        'dropped',
      ])
        assert.ok(page.body.includes(s), s)
      assert.doesNotMatch(page.body, /(src|href)="?https?:/, 'no external resources')

      agg.serverState(0, 'starting', Date.now())
      const st = await raw(`${d.url}state.json`)
      assert.equal(st.status, 200)
      const state = JSON.parse(st.body)
      assert.deepEqual(state.serverCounts, { idle: 1, starting: 1 })
      assert.equal(state.chart.peer.id, 'peer')

      const sse = await openSse(`${d.url}events`)
      assert.equal(sse.status, 200)
      assert.match(sse.contentType, /^text\/event-stream/)
      const full = JSON.parse((await sse.next((m) => m.event === 'full')).data)
      assert.equal(full.nodes.length, 2)
      assert.equal(d.clients(), 1)
      agg.peerUpdate(
        1,
        { key: 'x:1', actor: 'peer:in:0', value: 'pendingHandshake', status: 'active', inbound: true },
        Date.now(),
      )
      const delta = JSON.parse((await sse.next((m) => m.event === 'delta' && m.data.includes('x:1'))).data)
      assert.deepEqual(delta.counts, { pendingHandshake: 1 })
      assert.deepEqual(
        delta.peers.map((p: { k: string }) => p.k),
        ['1/x:1'],
      )
      await d.close()
      await sse.ended
      assert.equal(d.clients(), 0)
    } finally {
      await d.close()
    }
  })

  it('refuses foreign Host headers, unknown paths and non-GET methods', async () => {
    const d = await startDashboardServer({ aggregate: mk(), port: 0 })
    try {
      assert.equal((await raw(d.url, { host: 'evil.example:80' })).status, 421)
      assert.equal((await raw(d.url, { host: `localhost:${d.port}` })).status, 200)
      assert.equal((await raw(`${d.url}nope`)).status, 404)
      assert.equal((await raw(`${d.url}state.json`, { method: 'POST' })).status, 405)
    } finally {
      await d.close()
    }
  })

  it('reports a taken port as EADDRINUSE; the devnet dashboard falls back to a free port only when asked', async () => {
    const a = await startDashboardServer({ aggregate: mk(), port: 0 })
    const strict = createDevnetDashboard({ nodes: 1 })
    const lenient = createDevnetDashboard({ nodes: 1 })
    try {
      await assert.rejects(startDashboardServer({ aggregate: mk(), port: a.port }), { code: 'EADDRINUSE' })
      await assert.rejects(strict.listen(a.port), { code: 'EADDRINUSE' })
      const got = await lenient.listen(a.port, { fallback: true })
      assert.notEqual(got.port, a.port)
      assert.equal((await raw(`${got.url}state.json`)).status, 200)
    } finally {
      await a.close()
      await strict.close()
      await lenient.close()
    }
  })

  it('skips deltas for a client that does not read, then sends it one full state when it drains', async () => {
    const agg = mk()
    const d = await startDashboardServer({ aggregate: agg, port: 0, intervalMs: 20 })
    const sock = connect(d.port, '127.0.0.1')
    try {
      await new Promise((r) => sock.once('connect', r))
      sock.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\n\r\n`)
      sock.pause()
      const ROUNDS = 40
      const PEERS = 200
      const name = 'x'.repeat(5_000)
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < PEERS; i++)
          agg.peerUpdate(
            0,
            {
              key: `x:${i}`,
              actor: 'peer:in:0',
              value: 'protoHandshakeChecks',
              status: 'active',
              name: name + round,
            },
            Date.now(),
          )
        await new Promise((r) => setTimeout(r, 25))
      }
      // every round's delta is > 1 MB: unread, they would have queued ~40 MB in the response
      let text = ''
      sock.setEncoding('utf8')
      sock.on('data', (c: string) => {
        text += c
      })
      sock.resume()
      const deadline = Date.now() + 10_000
      while (Date.now() < deadline && (text.match(/event: full/g) ?? []).length < 2)
        await new Promise((r) => setTimeout(r, 50))
      const fulls = (text.match(/event: full/g) ?? []).length
      const deltas = (text.match(/event: delta/g) ?? []).length
      assert.equal(fulls, 2, 'the first full, then one after draining')
      assert.ok(deltas < ROUNDS / 2, `${deltas} deltas were queued for a client that did not read`)
    } finally {
      sock.destroy()
      await d.close()
    }
  })
})
