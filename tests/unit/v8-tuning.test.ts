// The server process's V8 tuning (actors/v8-tuning.ts): the opt-out, idempotence, and the effect it is for —
// short-lived XState actors, one at a time, promote far fewer bytes into old space with it than without.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { applyServerV8Flags, SERVER_V8_FLAGS } from '../../actors/v8-tuning.ts'
import { promotedBytes } from '../helpers/gc-trace.ts'

describe('server V8 tuning', () => {
  it('DEVP2P_V8_TUNING=0 opts out; otherwise the flags are applied once and returned', () => {
    assert.deepEqual(applyServerV8Flags({ DEVP2P_V8_TUNING: '0' }), [])
    assert.deepEqual(applyServerV8Flags({}), SERVER_V8_FLAGS)
    assert.deepEqual(applyServerV8Flags({}), SERVER_V8_FLAGS)
    assert.ok(SERVER_V8_FLAGS.includes('--no-allocation-site-pretenuring'))
  })

  it('short-lived actors promote less than half as many bytes with the tuning as without', async () => {
    const tuned = await promotedBytes({ DEVP2P_V8_TUNING: '1' })
    const plain = await promotedBytes({ DEVP2P_V8_TUNING: '0' })
    assert.equal(tuned.applied, SERVER_V8_FLAGS.join(' '))
    assert.equal(plain.applied, '')
    assert.ok(plain.bytes > 0, 'the untuned child promoted nothing: the loop no longer shows the effect')
    assert.ok(tuned.bytes * 2 < plain.bytes, `promoted ${tuned.bytes} B tuned vs ${plain.bytes} B untuned`)
  })
})
