// Random bytes for keys, nonces, IVs and padding: node:crypto's CSPRNG, drawn 4 KiB at a time. A handshake
// draws about ten small values; each randomBytes() call into OpenSSL costs ~2 µs, a slice of the pool ~0.1 µs.
// Bytes are handed out once: the pool's copy is zeroed as each slice leaves (no key material lingers there).
//
// API
//   randomBytes(length) → Uint8Array   fresh random bytes (its own buffer)
//   type RandomBytes                   the shape a source of randomness has (tests inject their own)
import { randomFillSync } from 'node:crypto'

/** A source of random bytes: returns `length` fresh random bytes. */
export type RandomBytes = (length: number) => Uint8Array

const POOL_SIZE = 4096
/** larger requests bypass the pool */
const POOLED_MAX = 256
const pool = new Uint8Array(POOL_SIZE)
let at = POOL_SIZE

export const randomBytes: RandomBytes = (length) => {
  if (length > POOLED_MAX) return randomFillSync(new Uint8Array(length))
  if (at + length > POOL_SIZE) {
    randomFillSync(pool)
    at = 0
  }
  const out = pool.slice(at, at + length)
  pool.fill(0, at, at + length)
  at += length
  return out
}
