// The main job through the real binary: `devp2p-actors devnet` starts N nodes on 127.0.0.1 that find each other
// through discovery and connect; the transactions they issue (--txs) reach every node's pool; SIGTERM stops every
// node and the process exits 0.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../bin/devp2p-actors.js', import.meta.url))

interface Line {
  event: string
  node?: number
  type?: string
  nodes?: { node: number; state: string; peers: number; eth: number; table: number; txpool: number }[]
}

describe('devnet command', () => {
  it('forms a full mesh of 4 nodes through discovery (eth handshakes done), reports status, stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'devnet', '--nodes', '4', '--interval', '0.5', '--txs', '4', '--json'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    const lines: Line[] = []
    let meshed = false
    for await (const text of createInterface({ input: child.stdout })) {
      const line = JSON.parse(text) as Line
      lines.push(line)
      if (
        !meshed &&
        line.event === 'status' &&
        line.nodes!.every((n) => n.peers === 3 && n.eth === 3 && n.state === 'running') &&
        // each node issues a quarter of the transactions: 8 in every pool means they travelled
        line.nodes!.every((n) => n.txpool >= 8)
      ) {
        meshed = true
        child.kill('SIGTERM')
      }
    }
    clearTimeout(killer)
    assert.equal(await exited, 0, stderr)
    assert.ok(meshed, 'every node reached 3 peers, all past the eth handshake, and 8 transactions')
    assert.equal(lines.filter((l) => l.event === 'started').length, 4)
    const adds = lines.filter((l) => l.event === 'peer' && l.type === 'add')
    assert.ok(adds.length >= 12, `${adds.length} add events`)
    assert.deepEqual(lines.at(-1), { event: 'stopped' })
  })

  it('rejects a bad --nodes with a one-line error', async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [BIN, 'devnet', '--nodes', 'x'],
        { timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
      ),
    )
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /invalid --nodes "x"/)
  })
})
