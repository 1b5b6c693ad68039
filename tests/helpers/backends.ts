// Run a test once per crypto backend (the fast native/wasm path and the portable noble path), restoring 'fast'.
import { test } from 'node:test'
import { type CryptoBackend, setCryptoBackend } from '../../crypto/backend.ts'

export const BACKENDS: readonly CryptoBackend[] = ['fast', 'noble']

export function onBoth(name: string, f: (backend: CryptoBackend) => void | Promise<void>): void {
  for (const b of BACKENDS) {
    test(`${name} [${b}]`, async () => {
      setCryptoBackend(b)
      try {
        await f(b)
      } finally {
        setCryptoBackend('fast')
      }
    })
  }
}
