// The WebAssembly keccak core (crypto/keccak-wasm.ts) against @noble/hashes: every length around the block
// boundaries, random inputs split into random updates, parked and resumed states, and a full window.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { keccak_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { fastKeccak } from '../../../crypto/keccak.ts'
import {
  createKeccakCore,
  KECCAK_256_RATE,
  type KeccakCore,
  WINDOW_SIZE,
} from '../../../crypto/keccak-wasm.ts'

const core = createKeccakCore()

/** keccak-256 of the concatenation of `parts`, each given to one update() (parts ≤ the window). */
function hash(k: KeccakCore, parts: Uint8Array[]): Uint8Array {
  k.init()
  for (const p of parts) {
    k.window.set(p)
    k.update(p.length)
  }
  k.final(0x01)
  return k.window.slice(0, 32)
}

const bytes = (n: number, seed = 0) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + 11) & 0xff)

describe('keccak WebAssembly core', () => {
  it('builds on this machine and is the fast path crypto/keccak.ts chose', () => {
    assert.ok(core)
    assert.equal(fastKeccak, 'core')
  })

  it('every length 0 … 3 blocks + 1, in one update and byte by byte', () => {
    const k = core!
    for (let n = 0; n <= 3 * KECCAK_256_RATE + 1; n++) {
      const d = bytes(n, n)
      assert.deepEqual(hash(k, [d]), keccak_256(d), `length ${n}`)
      if (n % 17 === 0 || n % KECCAK_256_RATE <= 1)
        assert.deepEqual(
          hash(
            k,
            Array.from(d, (b) => Uint8Array.of(b)),
          ),
          keccak_256(d),
          `bytewise ${n}`,
        )
    }
  })

  it('one-shot hash(): every length 0 … 3 blocks + 1, and a full window', () => {
    const k = core!
    for (const n of [
      ...Array.from({ length: 3 * KECCAK_256_RATE + 2 }, (_, i) => i),
      WINDOW_SIZE - 1,
      WINDOW_SIZE,
    ]) {
      const d = bytes(n, n)
      k.window.set(d)
      k.hash(n, 0x01)
      assert.deepEqual(k.window.slice(0, 32), keccak_256(d), `length ${n}`)
    }
  })

  it('random data in random updates matches noble (300 runs)', () => {
    const k = core!
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 8 }), (parts) => {
        const all = Uint8Array.from(parts.flatMap((p) => [...p]))
        assert.deepEqual(hash(k, parts), keccak_256(all))
      }),
      { numRuns: 300 },
    )
  })

  it('a state parked (copied out) and resumed later continues the same hash', () => {
    const k = core!
    const a = bytes(500, 1)
    const b = bytes(333, 2)
    k.init()
    k.window.set(a.subarray(0, 201))
    k.update(201)
    const parked = k.state.slice()
    // something else in between
    assert.deepEqual(hash(k, [b]), keccak_256(b))
    k.state.set(parked)
    k.window.set(a.subarray(201))
    k.update(a.length - 201)
    k.final(0x01)
    assert.deepEqual(k.window.slice(0, 32), keccak_256(a))
  })

  it('whole windows back to back', () => {
    const k = core!
    const big = bytes(2 * WINDOW_SIZE + 5, 3)
    const parts = [
      big.subarray(0, WINDOW_SIZE),
      big.subarray(WINDOW_SIZE, 2 * WINDOW_SIZE),
      big.subarray(2 * WINDOW_SIZE),
    ]
    assert.deepEqual(hash(k, parts), keccak_256(big))
  })

  it('DEVP2P_KECCAK=hash-wasm selects the hash-wasm fallback, which gives the same digests and running states', () => {
    const url = new URL('../../../crypto/keccak.ts', import.meta.url).href
    const script = `const k = await import(${JSON.stringify(url)})
      const d = new Uint8Array(40000).map((_, i) => i * 7)
      const st = k.createKeccakState(); st.update(d.subarray(0, 999)); const mid = st.digest(); st.update(d.subarray(999))
      const hex = (b) => Buffer.from(b).toString('hex')
      console.log(JSON.stringify([k.fastKeccak, hex(k.keccak256(d)), hex(mid), hex(st.digest())]))`
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, DEVP2P_KECCAK: 'hash-wasm' },
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    const d = Uint8Array.from({ length: 40000 }, (_, i) => (i * 7) & 0xff)
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
    assert.deepEqual(JSON.parse(r.stdout.trim()), [
      'hash-wasm',
      hex(keccak_256(d)),
      hex(keccak_256(d.subarray(0, 999))),
      hex(keccak_256(d)),
    ])
  })

  it('the SHA3-256 padding (0x06) gives SHA3-256: the permutation is the standard one', async () => {
    const { createHash } = await import('node:crypto')
    const d = bytes(1000, 4)
    const k = core!
    k.init()
    k.window.set(d)
    k.update(d.length)
    k.final(0x06)
    assert.deepEqual(Buffer.from(k.window.slice(0, 32)), createHash('sha3-256').update(d).digest())
  })
})
