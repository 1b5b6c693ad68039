// Crash safety of the node DB: a child process writing nodes and bumping the local seq is killed with
// SIGKILL mid-write (twice); the DB must reopen, serve seeds, and the local seq must not go backwards.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { NodeDb } from '../../actors/discovery/nodedb.ts'
import { bytesToHex } from '../../codecs/bytes.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const script = fileURLToPath(new URL('../fixtures/nodedb-writer.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'nodedb-crash-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** Run the writer until it reported `writes` durable seqs, then SIGKILL it; returns the last reported seq. */
function runAndKill(path: string, idHex: string, writes: number): Promise<{ first: bigint; last: bigint }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, path, idHex], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let buf = ''
    let first: bigint | undefined
    let last: bigint | undefined
    let count = 0
    let stderr = ''
    let killed = false
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`writer too slow: ${count} writes; stderr: ${stderr}`))
    }, 60_000)
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const [kind, value] = line.split(' ')
        if (kind === 'ready') first = BigInt(value!)
        if (kind === 'seq') {
          last = BigInt(value!)
          count++
        }
        nl = buf.indexOf('\n')
      }
      if (count >= writes && !killed) {
        killed = true
        child.kill('SIGKILL') // mid-write: the loop never pauses
      }
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (!killed) reject(new Error(`writer exited early (${code ?? signal}): ${stderr}`))
      else if (first === undefined || last === undefined) reject(new Error('writer reported nothing'))
      else resolve({ first, last })
    })
  })
}

test('node DB survives kill -9 mid-write: reopens, serves seeds, local seq never goes backwards', async () => {
  const path = join(dir, 'nodes')
  const id = new Uint8Array(randomBytes(32))
  const idHex = bytesToHex(id)

  const run1 = await runAndKill(path, idHex, 150)
  let db = await NodeDb.open({ path })
  const seq1 = await db.localSeq(id)
  assert.ok(seq1 >= run1.last, `seq went backwards: stored ${seq1} < reported ${run1.last}`)
  const seeds1 = await db.querySeeds()
  assert.ok(seeds1.length > 0, 'seeds are served after the crash')
  for (const s of seeds1) assert.equal(s.id.length, 32)
  await db.close()

  // the restarted writer continues from the persisted seq; crash again
  const run2 = await runAndKill(path, idHex, 150)
  assert.ok(run2.first >= seq1, `restart began at ${run2.first} below ${seq1}`)
  db = await NodeDb.open({ path })
  const seq2 = await db.localSeq(id)
  assert.ok(seq2 >= run2.last && seq2 > seq1, `stored ${seq2}, reported ${run2.last}`)
  assert.equal((await db.querySeeds(30)).length, 30)
  await db.close()
})
