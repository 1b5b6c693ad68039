// The `devp2p-actors node` command as a user runs it (bin/devp2p-actors.js, spawned): two nodes connected with
// --staticnodes report geth PeerEvent JSON lines, SIGTERM stops both with exit 0 after a drop line; the readable
// output; --datadir keeps the node key; bad flags exit non-zero with one line on stderr.
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

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

      b.current.child.kill('SIGTERM')
      assert.equal(await b.current.exit, 0)
      const dropB = json(b.current.lines.filter(isJson).at(-1)!)
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

  it('bad flags exit non-zero with one line on stderr', async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [BIN, 'node', '--port', 'x'], { timeout: 30_000 }, (e, stdout, stderr) =>
        resolve({ code: e ? Number(e.code) : 0, stdout, stderr }),
      ),
    )
    assert.notEqual(r.code, 0)
    assert.equal(r.stdout, '')
    assert.match(r.stderr.trim(), /^devp2p-actors: invalid --port "x"$/)
  })
})
