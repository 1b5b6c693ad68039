// The `devp2p-actors node` command as a user runs it (bin/devp2p-actors.js, spawned): two nodes connected with
// --staticnodes report geth PeerEvent JSON lines, SIGTERM stops both with exit 0 after a drop line; the readable
// output; --datadir keeps the node key; --metrics; --http serves geth's JSON-RPC (admin_addPeer connects a peer,
// admin_peers / admin_nodeInfo / net_* / web3_* answer, admin only when asked for); bad flags exit non-zero with
// one line on stderr.
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { type AddressInfo, createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { bytesToHex } from '../../codecs/bytes.ts'
import { enrGet, parseEnrText } from '../../codecs/enr.ts'

const BIN = fileURLToPath(new URL('../../bin/devp2p-actors.js', import.meta.url))

interface NodeProc {
  child: ChildProcess
  lines: string[]
  /** resolves with the first stdout line matching `pred` */
  next(pred: (line: string) => boolean, ms?: number): Promise<string>
  exit: Promise<number | null>
  stderr(): string
}

function startNode(...args: string[]): NodeProc {
  const child = spawn(process.execPath, [BIN, 'node', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const waiters: { pred: (l: string) => boolean; resolve(l: string): void }[] = []
  let err = ''
  child.stderr!.on('data', (d) => {
    err += String(d)
  })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line)
    for (const w of [...waiters])
      if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
  })
  const exit = once(child, 'exit').then(([code]) => code as number | null)
  return {
    child,
    lines,
    exit,
    stderr: () => err,
    next(pred, ms = 20_000) {
      const seen = lines.find(pred)
      if (seen) return Promise.resolve(seen)
      return new Promise<string>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no matching line; stdout: ${lines.join('\n')}; stderr: ${err}`)),
          ms,
        )
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(t)
            resolve(l)
          },
        })
      })
    },
  }
}

const json = (l: string) => JSON.parse(l) as Record<string, unknown>
const isJson = (l: string) => l.startsWith('{')

const dir = mkdtempSync(join(tmpdir(), 'devp2p-node-'))
after(() => rmSync(dir, { recursive: true, force: true }))

describe('devp2p-actors node (spawned)', () => {
  it('two nodes connect with --staticnodes, report geth PeerEvents as JSON lines, and stop on SIGTERM', async () => {
    const a = startNode('--port', '0', '--nodiscover', '--json', '--verbosity', '0')
    const b = { current: undefined as NodeProc | undefined }
    try {
      const startedA = json(await a.next(isJson))
      assert.equal(startedA.event, 'started')
      assert.match(String(startedA.enode), /^enode:\/\/[0-9a-f]{128}@127\.0\.0\.1:\d+\?discport=0$/)
      assert.match(String(startedA.enr), /^enr:/)
      assert.match(String(startedA.id), /^[0-9a-f]{64}$/)
      b.current = startNode('--port', '0', '--nodiscover', '--json', '--staticnodes', String(startedA.enode))
      const startedB = json(await b.current.next(isJson))
      const addB = json(await b.current.next((l) => isJson(l) && json(l).type === 'add'))
      assert.equal(addB.peer, startedA.id)
      assert.match(String(addB.remote), /^127\.0\.0\.1:\d+$/)
      const addA = json(await a.next((l) => isJson(l) && json(l).type === 'add'))
      assert.equal(addA.peer, startedB.id)
      assert.equal(addA.local, addB.remote)
      // both run eth/72 on the devnet chain (the default --eth)
      const ethJoin = (l: string) => isJson(l) && json(l).event === 'eth' && json(l).type === 'join'
      assert.deepEqual(json(await a.next(ethJoin)), {
        event: 'eth',
        type: 'join',
        peer: startedB.id,
        version: 72,
      })
      assert.deepEqual(json(await b.current.next(ethJoin)), {
        event: 'eth',
        type: 'join',
        peer: startedA.id,
        version: 72,
      })

      b.current.child.kill('SIGTERM')
      assert.equal(await b.current.exit, 0)
      const dropB = json(b.current.lines.filter((l) => isJson(l) && json(l).type === 'drop').at(-1)!)
      assert.deepEqual([dropB.type, dropB.peer, dropB.error], ['drop', startedA.id, 'client quitting'])
      const dropA = json(await a.next((l) => isJson(l) && json(l).type === 'drop'))
      assert.equal(dropA.peer, startedB.id)
      assert.equal(dropA.error, 'client quitting')
      a.child.kill('SIGTERM')
      assert.equal(await a.exit, 0)
      assert.equal(a.stderr(), '')
    } finally {
      a.child.kill('SIGKILL')
      b.current?.child.kill('SIGKILL')
    }
  })

  it('readable output, --datadir keeps the key, SIGINT stops cleanly', async () => {
    const datadir = join(dir, 'data')
    const ids: string[] = []
    for (let i = 0; i < 2; i++) {
      const n = startNode('--port', '0', '--nodiscover', '--datadir', datadir, '--verbosity', '0')
      try {
        const line = await n.next((l) => l.startsWith('started'))
        ids.push(/enode:\/\/([0-9a-f]{128})@/.exec(line)![1]!)
        await n.next((l) => l.startsWith('listening on'))
        n.child.kill('SIGINT')
        assert.equal(await n.exit, 0)
        assert.equal(n.lines.at(-1), 'stopped')
      } finally {
        n.child.kill('SIGKILL')
      }
    }
    assert.equal(ids[0], ids[1])
  })

  it('--eth mainnet: the unsynced fork id in the output and the ENR; mainnet peers join, a sepolia node is refused', async () => {
    const a = startNode('--port', '0', '--nodiscover', '--verbosity', '0', '--eth', 'mainnet', '--json')
    const others: NodeProc[] = []
    try {
      const started = json(await a.next(isJson))
      const fid = enrGet(parseEnrText(String(started.enr)), 'eth')!
      assert.deepEqual([bytesToHex(fid.hash), fid.next], ['fc64ec04', 1_150_000n])
      const b = startNode(
        ...['--port', '0', '--nodiscover', '--verbosity', '0', '--eth', 'mainnet'],
        ...['--staticnodes', String(started.enode)],
      )
      others.push(b)
      assert.match(
        await b.next((l) => l.startsWith('eth ')),
        /^eth {11}eth\/72, eth\/71, eth\/70, eth\/69, eth\/68 on mainnet \(network id 1, genesis d4e56740…, fork id fc64ec04 next 1150000\)$/,
      )
      assert.equal(await b.next((l) => l.startsWith('eth peer')), `eth peer      ${started.id} eth/72`)
      const joinA = json(await a.next((l) => isJson(l) && json(l).event === 'eth'))
      assert.equal(joinA.type, 'join')

      const c = startNode(
        ...['--port', '0', '--nodiscover', '--verbosity', '0', '--eth', 'sepolia'],
        ...['--staticnodes', String(started.enode)],
      )
      others.push(c)
      assert.match(
        await c.next((l) => l.startsWith('eth refused')),
        new RegExp(`^eth refused   ${started.id} eth/72 network ID mismatch: 1 \\(!= 11155111\\)$`),
      )
      assert.match(await c.next((l) => l.startsWith('peer dropped')), /subprotocol error$/)
      const failedA = json(await a.next((l) => isJson(l) && json(l).type === 'handshakeFailed'))
      assert.match(String(failedA.error), /^network ID mismatch: 11155111 \(!= 1\)$/)
      for (const n of [a, b, c]) n.child.kill('SIGTERM')
      for (const n of [a, b, c]) assert.equal(await n.exit, 0)
    } finally {
      a.child.kill('SIGKILL')
      for (const n of others) n.child.kill('SIGKILL')
    }
  })

  it('--metrics serves the server and eth fetcher metrics at /debug/metrics/prometheus, closed on SIGTERM', async () => {
    const n = startNode(
      '--port',
      '0',
      '--nodiscover',
      '--verbosity',
      '0',
      '--json',
      '--metrics',
      '--metrics.port',
      '0',
    )
    try {
      const started = json(await n.next(isJson))
      const url = String(started.metrics)
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/debug\/metrics\/prometheus$/)
      const res = await fetch(url)
      assert.equal(res.status, 200)
      const text = await res.text()
      assert.match(text, /^p2p_peers 0$/m)
      assert.match(text, /^eth_fetcher_transaction_announces_in 0$/m)
      // geth's peer dropper runs beside the eth side
      assert.match(text, /^eth_dropper_skipped 0$/m)
      assert.equal((await fetch(url.replace('/debug/metrics/prometheus', '/'))).status, 404)
      n.child.kill('SIGTERM')
      assert.equal(await n.exit, 0)
      await assert.rejects(fetch(url), 'the metrics server is closed')
    } finally {
      n.child.kill('SIGKILL')
    }
  })

  it('--metrics on a port in use: the node stops again and exits non-zero with one line on stderr', async () => {
    const busy = createNetServer()
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
    const port = (busy.address() as AddressInfo).port
    try {
      const n = startNode(
        '--port',
        '0',
        '--nodiscover',
        '--verbosity',
        '0',
        '--metrics',
        '--metrics.port',
        String(port),
      )
      assert.notEqual(await n.exit, 0)
      assert.match(n.stderr().trim(), /^devp2p-actors: metrics: listen EADDRINUSE.*$/)
      assert.ok(!n.lines.some((l) => l.startsWith('started')), 'no started line')
    } finally {
      busy.close()
    }
  })

  it('--http: JSON-RPC as geth serves it; admin_addPeer connects a peer that admin_peers and net_peerCount show', async () => {
    const quiet = ['--port', '0', '--nodiscover', '--verbosity', '0', '--json', '--http', '--http.port', '0']
    const a = startNode(...quiet, '--http.api', 'admin,net,web3')
    const b = startNode(...quiet)
    try {
      const sa = json(await a.next(isJson))
      const sb = json(await b.next(isJson))
      assert.match(String(sa.http), /^http:\/\/127\.0\.0\.1:\d+$/)
      const rpc = async (url: unknown, method: string, params: unknown[] = []) => {
        const res = await fetch(String(url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }),
        })
        assert.equal(res.status, 200)
        return (await res.json()) as {
          id: number
          result?: unknown
          error?: { code: number; message: string }
        }
      }
      const info = (await rpc(sa.http, 'admin_nodeInfo')).result as Record<string, unknown>
      assert.equal(info.id, sa.id)
      assert.equal(info.enode, sa.enode)
      assert.deepEqual((info.protocols as { eth: { network: number } }).eth.network, 1337)
      assert.deepEqual(await rpc(sa.http, 'net_peerCount'), { jsonrpc: '2.0', id: 7, result: '0x0' })
      assert.equal((await rpc(sa.http, 'admin_addPeer', [sb.enode])).result, true)
      await a.next((l) => isJson(l) && json(l).event === 'eth' && json(l).type === 'join')
      assert.equal((await rpc(sa.http, 'net_peerCount')).result, '0x1')
      const peers = (await rpc(sa.http, 'admin_peers')).result as {
        id: string
        network: { inbound: boolean; static: boolean }
        protocols: { eth: { version: number; latestBlock: number } }
      }[]
      assert.equal(peers.length, 1)
      assert.equal(peers[0]!.id, sb.id)
      assert.deepEqual(peers[0]!.network.static, true)
      assert.equal(peers[0]!.protocols.eth.version, 72)
      assert.equal(peers[0]!.protocols.eth.latestBlock, 0)
      assert.equal((await rpc(sa.http, 'net_version')).result, '1337')
      assert.match(String((await rpc(sa.http, 'web3_clientVersion')).result), /^devp2p-actors\//)
      assert.deepEqual((await rpc(sa.http, 'admin_addPeer', ['enode://nothex@127.0.0.1:1'])).error, {
        code: -32000,
        message: 'invalid enode: BAD_ENODE: invalid public key (invalid hex character)',
      })
      // b serves geth's default modules: no admin
      assert.deepEqual((await rpc(sb.http, 'admin_peers')).error, {
        code: -32601,
        message: 'the method admin_peers does not exist/is not available',
      })
      assert.equal((await rpc(sb.http, 'net_peerCount')).result, '0x1')
      a.child.kill('SIGTERM')
      b.child.kill('SIGTERM')
      assert.equal(await a.exit, 0)
      assert.equal(await b.exit, 0)
      await assert.rejects(fetch(String(sa.http)), 'the RPC server is closed')
    } finally {
      a.child.kill('SIGKILL')
      b.child.kill('SIGKILL')
    }
  })

  it('bad flags exit non-zero with one line on stderr', async () => {
    const fails = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [BIN, 'node', ...args], { timeout: 30_000 }, (e, stdout, stderr) =>
          resolve({ code: e ? Number(e.code) : 0, stdout, stderr }),
        ),
      )
    for (const [args, text] of [
      [['--port', 'x'], /^devp2p-actors: invalid --port "x"$/],
      [
        ['--http', '--http.api', 'admin,eth'],
        /^devp2p-actors: invalid --http.api module "eth" \(one of admin, net, web3\)$/,
      ],
    ] as const) {
      const r = await fails(...args)
      assert.notEqual(r.code, 0)
      assert.equal(r.stdout, '')
      assert.match(r.stderr.trim(), text)
    }
  })
})
