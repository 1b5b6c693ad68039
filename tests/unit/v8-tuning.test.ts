// The server process's V8 tuning (actors/v8-tuning.ts): the opt-out, idempotence, and the effect it is for —
// short-lived XState actors, one at a time, promote far fewer bytes into old space with it than without.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { applyServerV8Flags, SERVER_V8_FLAGS } from '../../actors/v8-tuning.ts'

const child = fileURLToPath(new URL('../fixtures/v8-tuning-child.ts', import.meta.url))

/** Run the child with --trace-gc-nvp; the bytes its scavenges promoted and what it says it applied. */
function promoted(env: NodeJS.ProcessEnv): Promise<{ bytes: number; applied: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--trace-gc-nvp', '--import', 'tsx', child, '20000'],
      { env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => {
        if (err) return reject(err)
        assert.match(stdout, /^done$/m)
        let bytes = 0
        for (const m of stdout.matchAll(/gc=s .*?promoted=(\d+)/g)) bytes += Number(m[1])
        resolve({ bytes, applied: /^applied ?(.*)$/m.exec(stdout)?.[1] ?? '' })
      },
    )
  })
}

describe('server V8 tuning', () => {
  it('DEVP2P_V8_TUNING=0 opts out; otherwise the flags are applied once and returned', () => {
    assert.deepEqual(applyServerV8Flags({ DEVP2P_V8_TUNING: '0' }), [])
    assert.deepEqual(applyServerV8Flags({}), SERVER_V8_FLAGS)
    assert.deepEqual(applyServerV8Flags({}), SERVER_V8_FLAGS)
    assert.ok(SERVER_V8_FLAGS.includes('--no-allocation-site-pretenuring'))
  })

  it('short-lived actors promote less than half as many bytes with the tuning as without', async () => {
    const tuned = await promoted({ DEVP2P_V8_TUNING: '1' })
    const plain = await promoted({ DEVP2P_V8_TUNING: '0' })
    assert.equal(tuned.applied, SERVER_V8_FLAGS.join(' '))
    assert.equal(plain.applied, '')
    assert.ok(plain.bytes > 0, 'the untuned child promoted nothing: the loop no longer shows the effect')
    assert.ok(tuned.bytes * 2 < plain.bytes, `promoted ${tuned.bytes} B tuned vs ${plain.bytes} B untuned`)
  })
})
