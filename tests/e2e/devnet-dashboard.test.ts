// The devnet dashboard through the real binary: `devnet --nodes 3 --dashboard 0 --duration 8 --json` prints its
// URL, serves the page (with the peer machine's state names), /state.json shows every node with peers in
// `running` (counts, per-node in / out and peer rows agreeing), /events streams SSE messages, and at the end of
// --duration the process closes the open stream and exits 0 by itself. Plus the text form of the URL line,
// --no-dashboard printing none, and a taken port.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { assertFails, BIN, run } from '../helpers/cli.ts'
import { openSse } from '../helpers/sse.ts'

interface StateJson {
  counts: Record<string, number>
  ethCounts: Record<string, number>
  nodes: { node: number; state: string; peers: number; eth: number; inbound: number; outbound: number }[]
  peers: { node: number; state: string; name: string; caps: string[] }[]
}

const PEER_STATES = [
  'pendingHandshake',
  'encHandshakeChecks',
  'protoHandshake',
  'protoHandshakeChecks',
  'running',
  'dropped',
]

describe('devnet dashboard', () => {
  it('serves the page, a live /state.json and SSE while 3 nodes mesh; exits 0 after --duration', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'devnet', '--nodes', '3', '--dashboard', '0', '--duration', '8', '--interval', '1', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const lines: { event: string; url?: string }[] = []
    const urlSeen = new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout })
      rl.on('line', (text) => {
        const line = JSON.parse(text) as { event: string; url?: string }
        lines.push(line)
        if (line.event === 'dashboard') resolve(line.url!)
      })
      rl.on('close', () => reject(new Error(`no dashboard line; stderr: ${stderr}`)))
    })
    try {
      const url = await urlSeen
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
      assert.equal(lines[0]!.event, 'dashboard', 'the URL comes first')

      const page = await fetch(url)
      assert.equal(page.status, 200)
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
      const html = await page.text()
      for (const s of PEER_STATES) assert.ok(html.includes(s), `page names ${s}`)
      assert.match(html, /id="ethChart"[^>]*aria-label="eth-peer statechart: handshaking, active, dropped"/)

      const sse = await openSse(`${url}events`)
      assert.equal(sse.status, 200)
      await sse.next((m) => m.event === 'full')

      // every node connected, past the eth handshake (node 0 is everyone's bootnode; the rest of the mesh
      // follows from discovery)
      const ready = (st: StateJson) =>
        (st.counts.running ?? 0) >= 4 &&
        (st.ethCounts.active ?? 0) >= 4 &&
        st.nodes.every((n) => n.state === 'running' && n.inbound + n.outbound >= 1 && n.eth >= 1)
      let state: StateJson | undefined
      const deadline = Date.now() + 6_000
      while (Date.now() < deadline) {
        state = (await (await fetch(`${url}state.json`)).json()) as StateJson
        if (ready(state)) break
        await new Promise((r) => setTimeout(r, 200))
      }
      assert.ok(state && ready(state), JSON.stringify(state?.nodes))
      const running = state.peers.filter((p) => p.state === 'running')
      assert.equal(state.counts.running, running.length)
      assert.equal(state.counts['running.waiting'], running.length)
      for (const n of state.nodes) {
        const mine = running.filter((p) => p.node === n.node)
        assert.equal(n.inbound + n.outbound, mine.length, JSON.stringify(n))
      }
      for (const p of running) {
        assert.match(p.name, /^devp2p-actors\/devnet-\d\/v0\.1\.0$/)
        assert.deepEqual(p.caps, ['devp2p-actors/1', 'eth/68', 'eth/69', 'eth/70', 'eth/71', 'eth/72'])
      }
      await sse.next((m) => m.event === 'delta')

      // the stream stays open until --duration ends; the process must end it and exit by itself
      await sse.ended
      assert.equal(await exited, 0, stderr)
      assert.deepEqual(lines.at(-1), { event: 'stopped' })
    } finally {
      clearTimeout(killer)
      child.kill('SIGKILL')
    }
  })

  it('prints the URL as text; --no-dashboard prints none', async () => {
    const on = await run('devnet', '--nodes', '1', '--dashboard', '0', '--duration', '0.5')
    assert.equal(on.code, 0, on.stderr)
    assert.match(on.stdout.split('\n')[0]!, /^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/)
    const off = await run('devnet', '--nodes', '1', '--no-dashboard', '--duration', '0.5')
    assert.equal(off.code, 0, off.stderr)
    assert.doesNotMatch(off.stdout, /dashboard/)
    assert.match(off.stdout, /^node0 {2}started enode:\/\//)
  })

  it('fails with one line when the --dashboard port given is taken', async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    try {
      const port = (blocker.address() as AddressInfo).port
      assertFails(await run('devnet', '--nodes', '1', '--dashboard', String(port)), /dashboard: .*EADDRINUSE/)
    } finally {
      await new Promise((r) => blocker.close(r))
    }
  })
})
