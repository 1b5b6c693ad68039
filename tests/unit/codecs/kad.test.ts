import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { closest, distCmp, idKey, logDist, pushByDistance } from '../../../codecs/kad.ts'
import { idAtDistance, toBig } from '../discovery/helpers.ts'

const id = fc.uint8Array({ minLength: 32, maxLength: 32 })

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length
}

test('logDist is the bit length of a XOR b (geth enode.LogDist)', () => {
  fc.assert(
    fc.property(id, id, (a, b) => logDist(a, b) === bitLength(toBig(a) ^ toBig(b))),
    { numRuns: 2000 },
  )
  const z = new Uint8Array(32)
  assert.equal(logDist(z, z), 0)
  const top = new Uint8Array(32)
  top[0] = 0x80
  assert.equal(logDist(z, top), 256)
  const low = new Uint8Array(32)
  low[31] = 1
  assert.equal(logDist(z, low), 1)
  for (let d = 1; d <= 256; d++) assert.equal(logDist(top, idAtDistance(top, d)), d)
})

test('distCmp orders by XOR distance to the target (geth enode.DistCmp)', () => {
  fc.assert(
    fc.property(id, id, id, (t, a, b) => {
      const da = toBig(t) ^ toBig(a)
      const db = toBig(t) ^ toBig(b)
      return distCmp(t, a, b) === (da < db ? -1 : da > db ? 1 : 0)
    }),
    { numRuns: 2000 },
  )
})

test('closest returns the k nearest by XOR distance, closest first, without duplicates', () => {
  fc.assert(
    fc.property(id, fc.array(id, { maxLength: 60 }), fc.integer({ min: 0, max: 20 }), (t, ids, k) => {
      const nodes = ids.map((x) => ({ id: x }))
      const got = closest(t, [...nodes, ...nodes], k).map((n) => idKey(n.id))
      const uniq = [...new Map(ids.map((x) => [idKey(x), x])).values()]
      const want = uniq
        .sort((a, b) => {
          const d = (toBig(t) ^ toBig(a)) - (toBig(t) ^ toBig(b))
          return d < 0n ? -1 : d > 0n ? 1 : 0
        })
        .slice(0, k)
        .map(idKey)
      assert.deepEqual(got, want)
    }),
    { numRuns: 300 },
  )
})

test('pushByDistance keeps at most max entries and reports whether the node was kept', () => {
  const t = new Uint8Array(32)
  const list: { id: Uint8Array }[] = []
  const mk = (b: number) => {
    const x = new Uint8Array(32)
    x[31] = b
    return { id: x }
  }
  assert.equal(pushByDistance(list, mk(5), t, 2), true)
  assert.equal(pushByDistance(list, mk(3), t, 2), true)
  assert.equal(pushByDistance(list, mk(9), t, 2), false)
  assert.equal(pushByDistance(list, mk(1), t, 2), true)
  assert.deepEqual(
    list.map((n) => n.id[31]),
    [1, 3],
  )
})
