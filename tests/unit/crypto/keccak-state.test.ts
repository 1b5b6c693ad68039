// Running keccak states sharing the one WebAssembly instance (crypto/keccak.ts): interleaved updates, digests
// and updateDigest on many states, one-shot hashes in between, and inputs larger than the 16 KiB window,
// checked against @noble/hashes on both backends.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keccak_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { setCryptoBackend } from '../../../crypto/backend.ts'
import { createKeccakState, keccak256 } from '../../../crypto/keccak.ts'

const op = fc.oneof(
  fc.record({ kind: fc.constant('update' as const), s: fc.nat(3), data: fc.uint8Array({ maxLength: 300 }) }),
  fc.record({ kind: fc.constant('digest' as const), s: fc.nat(3) }),
  fc.record({
    kind: fc.constant('updateDigest' as const),
    s: fc.nat(3),
    data: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({ kind: fc.constant('oneShot' as const), data: fc.uint8Array({ maxLength: 300 }) }),
)

for (const backend of ['fast', 'noble'] as const) {
  describe(`keccak running states [${backend}]`, () => {
    it('interleaved operations on four states match noble', () => {
      setCryptoBackend(backend)
      try {
        fc.assert(
          fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
            const states = [0, 1, 2, 3].map(() => createKeccakState())
            const refs = [0, 1, 2, 3].map(() => keccak_256.create())
            for (const o of ops) {
              if (o.kind === 'oneShot') {
                assert.deepEqual(keccak256(o.data), keccak_256(o.data))
                continue
              }
              const st = states[o.s]!
              const ref = refs[o.s]!
              if (o.kind === 'update') {
                st.update(o.data)
                ref.update(o.data)
              } else if (o.kind === 'digest') {
                assert.deepEqual(st.digest(), ref.clone().digest())
              } else {
                ref.update(o.data)
                const out = new Uint8Array(32)
                if (st.updateDigest) st.updateDigest(o.data, out)
                else {
                  st.update(o.data)
                  out.set(st.digest())
                }
                assert.deepEqual(out, ref.clone().digest())
              }
            }
          }),
          { numRuns: 300 },
        )
      } finally {
        setCryptoBackend('fast')
      }
    })

    it('inputs across the 16 KiB window, one-shot and running', () => {
      setCryptoBackend(backend)
      try {
        for (const n of [16383, 16384, 16385, 40000]) {
          const data = new Uint8Array(n).map((_, i) => (i * 131) & 0xff)
          assert.deepEqual(keccak256(data), keccak_256(data))
          assert.deepEqual(keccak256(data.subarray(0, 5), data.subarray(5)), keccak_256(data))
          const st = createKeccakState()
          st.update(data.subarray(0, 7))
          const out = new Uint8Array(32)
          if (st.updateDigest) st.updateDigest(data.subarray(7), out)
          else {
            st.update(data.subarray(7))
            out.set(st.digest())
          }
          assert.deepEqual(out, keccak_256(data))
          assert.deepEqual(st.digest(), keccak_256(data))
        }
      } finally {
        setCryptoBackend('fast')
      }
    })
  })
}
