// machines/persistent-map.ts: every version behaves as an independent immutable Map, whatever order
// versions are read and derived in (fast-check against plain copied Maps as the model).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { PersistentMap } from '../../../machines/persistent-map.ts'

type Op = { kind: 'set' | 'delete' | 'read' | 'iterate'; from: number; key: number; value: number }

const op = fc.record({
  kind: fc.constantFrom('set', 'delete', 'read', 'iterate') as fc.Arbitrary<Op['kind']>,
  from: fc.nat(),
  key: fc.integer({ min: 0, max: 7 }),
  value: fc.integer(),
})

const sorted = <K, V>(m: Iterable<readonly [K, V]>) => [...m].sort((a, b) => Number(a[0]) - Number(b[0]))

describe('PersistentMap', () => {
  it('every version equals its model after random derivations and reads of any version', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const versions: PersistentMap<number, number>[] = [PersistentMap.empty()]
        const models: Map<number, number>[] = [new Map()]
        for (const o of ops) {
          const i = o.from % versions.length
          const v = versions[i]!
          const m = models[i]!
          if (o.kind === 'set' || o.kind === 'delete') {
            const next = o.kind === 'set' ? v.set(o.key, o.value) : v.delete(o.key)
            const model = new Map(m)
            if (o.kind === 'set') model.set(o.key, o.value)
            else model.delete(o.key)
            versions.push(next)
            models.push(model)
          } else if (o.kind === 'read') {
            assert.equal(v.get(o.key), m.get(o.key))
            assert.equal(v.has(o.key), m.has(o.key))
          } else {
            // reading another version while iterating must not disturb the iteration
            const seen: [number, number][] = []
            for (const e of v) {
              seen.push(e)
              versions[0]!.has(o.key)
            }
            assert.deepEqual(sorted(seen), sorted(m))
          }
        }
        versions.forEach((v, i) => {
          assert.equal(v.size, models[i]!.size)
          assert.deepEqual(sorted(v.entries()), sorted(models[i]!))
          assert.deepEqual([...v.keys()].sort(), [...models[i]!.keys()].sort())
        })
      }),
      { numRuns: 500 },
    )
  })

  it('many keys, equal-hash keys and odd keys: every version equals its model', () => {
    // the trie's string hash reads only the first 8 and last 16 characters of long keys, so these collide
    const colliding = (i: number) => `${'a'.repeat(8)}${i.toString(16).padStart(4, '0')}${'b'.repeat(16)}`
    const keys: unknown[] = [
      ...Array.from({ length: 30 }, (_, i) => colliding(i % 6)),
      ...Array.from({ length: 60 }, (_, i) => `peer:in:${i}`),
      ...Array.from({ length: 20 }, (_, i) => i * 37),
      Number.NaN,
      -0,
      0.5,
      true,
      null,
      undefined,
      10n,
    ]
    const step = fc.record({
      del: fc.boolean(),
      from: fc.nat(),
      key: fc.integer({ min: 0, max: keys.length - 1 }),
      value: fc.integer(),
    })
    fc.assert(
      fc.property(fc.array(step, { minLength: 20, maxLength: 300, size: 'max' }), (ops) => {
        const versions = [PersistentMap.empty<unknown, number>()]
        const models = [new Map<unknown, number>()]
        for (const o of ops) {
          // mostly derive from the newest version, sometimes from an older one
          const i = o.from % 4 === 0 ? o.from % versions.length : versions.length - 1
          const k = keys[o.key]
          const model = new Map(models[i])
          if (o.del) model.delete(k)
          else model.set(k, o.value)
          const next = o.del ? versions[i]!.delete(k) : versions[i]!.set(k, o.value)
          versions.push(next)
          models.push(model)
          assert.equal(next.get(k), model.get(k))
          assert.equal(next.size, model.size)
        }
        for (const [i, v] of versions.entries()) {
          const m = models[i]!
          assert.equal(v.size, m.size)
          for (const [k, x] of m) assert.equal(v.get(k), x)
          assert.equal([...v.keys()].length, m.size)
          for (const k of keys) assert.equal(v.has(k), m.has(k))
        }
      }),
      { numRuns: 40 },
    )
  })

  it('a deep trie (3 000 keys) shrinks back key by key, older versions intact', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `node-${(i * 7919) % 3000}`)
    let m = PersistentMap.empty<string, number>()
    for (const [i, k] of keys.entries()) m = m.set(k, i)
    const full = m
    assert.equal(full.size, 3000)
    const deleted = new Set<string>()
    for (let i = 0; i < keys.length; i++) {
      const k = keys[(i * 1237) % 3000]!
      m = m.delete(k)
      deleted.add(k)
      if (i % 500 === 499) {
        assert.equal(m.size, 3000 - deleted.size)
        for (const [j, key] of keys.entries()) assert.equal(m.get(key), deleted.has(key) ? undefined : j)
      }
    }
    assert.equal(m.size, 0)
    assert.deepEqual([...m.keys()], [])
    for (const [i, k] of keys.entries()) assert.equal(full.get(k), i)
  })

  it('some(pred) agrees with the entries, visits no entry after a match, and sees collision leaves', () => {
    // equal-hash keys: long strings that agree in their first 8 and last 16 characters
    const long = (n: number) => `prefix--${'abc'[n - 1]!.repeat(4)}${'z'.repeat(16)}`
    let m = PersistentMap.empty<string | number, number>()
    for (let i = 0; i < 300; i++) m = m.set(i, i * 2)
    for (let i = 1; i < 4; i++) m = m.set(long(i), -i)
    assert.equal(
      m.some((v) => v === -3),
      true,
      'a leaf of a collision node',
    )
    assert.equal(
      m.some((v, k) => k === 299 && v === 598),
      true,
    )
    assert.equal(
      m.some((v) => v === 1),
      false,
    )
    assert.equal(
      PersistentMap.empty().some(() => true),
      false,
    )
    let visits = 0
    assert.equal(
      m.some(() => ++visits === 5),
      true,
    )
    assert.equal(visits, 5, 'stops at the first match')
  })

  it('delete of a missing key returns the same version; from() copies its input', () => {
    const src = new Map([[1, 'a']])
    const a = PersistentMap.from(src)
    src.set(2, 'b')
    assert.equal(a.size, 1)
    assert.equal(a.delete(9), a)
    const b = a.set(2, 'x')
    assert.equal(a.has(2), false)
    assert.equal(b.get(2), 'x')
    const seen: string[] = []
    b.forEach((v, k) => {
      seen.push(`${k}=${v}`)
    })
    assert.deepEqual(seen.sort(), ['1=a', '2=x'])
  })
})
