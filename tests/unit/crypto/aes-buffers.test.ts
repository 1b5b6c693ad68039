// AES-CTR on the noble backend with node Buffers at odd offsets (socket chunks are pool slices): the IV and
// unaligned data are copied, never viewed (Buffer#slice is a view), and the output matches node:crypto.
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { createAesCtr } from '../../../crypto/aes.ts'
import { setCryptoBackend } from '../../../crypto/backend.ts'

it('noble AES-CTR accepts Buffer views at odd offsets and matches node:crypto', () => {
  const pool = Buffer.alloc(4096)
  for (let i = 0; i < pool.length; i++) pool[i] = (i * 37) & 0xff
  for (const off of [1, 2, 3, 5]) {
    const key = pool.subarray(off, off + 32)
    const iv = pool.subarray(off + 33, off + 49)
    const data = pool.subarray(off + 100, off + 100 + 200)
    const before = Buffer.from(data)
    setCryptoBackend('noble')
    let noble: Uint8Array
    try {
      const c = createAesCtr(key, iv)
      noble = new Uint8Array([...c.update(data.subarray(0, 7)), ...c.update(data.subarray(7))])
    } finally {
      setCryptoBackend('fast')
    }
    assert.deepEqual(data, before, 'input untouched')
    const fast = createAesCtr(key, iv).update(data)
    assert.deepEqual(noble, new Uint8Array(fast))
  }
})
