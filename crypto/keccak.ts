// keccak-256 seam. Fast path: hash-wasm (WebAssembly, ~10× noble, copyable running state);
// fallback: @noble/hashes. Also the shared-hasher running state the RLPx MAC needs (save/load).
import { keccak_256 } from '@noble/hashes/sha3.js'
import { createKeccak, type IHasher } from 'hash-wasm'
import { onBackendChange } from './backend.ts'

let wasm: IHasher | null = null
try {
  wasm = await createKeccak(256)
} catch {
  wasm = null
}

let useWasm = false
onBackendChange((b) => {
  useWasm = b === 'fast' && wasm !== null
})

/** keccak-256 of the concatenation of the given chunks. */
export function keccak256(...chunks: Uint8Array[]): Uint8Array {
  if (useWasm) {
    const h = wasm!.init()
    for (const c of chunks) h.update(c)
    return h.digest('binary')
  }
  if (chunks.length === 1) return keccak_256(chunks[0]!)
  const h = keccak_256.create()
  for (const c of chunks) h.update(c)
  return h.digest()
}

/**
 * A keccak-256 running state that can be updated and digested without finalising it.
 * The wasm variant keeps its state as a 404-byte snapshot and borrows the one shared hasher
 * (load → update → save), so thousands of connections cost no WebAssembly memory each.
 */
export interface KeccakState {
  update(data: Uint8Array): void
  /** digest of everything so far; the state continues */
  digest(): Uint8Array
}

class WasmKeccakState implements KeccakState {
  private state: Uint8Array
  constructor() {
    this.state = wasm!.init().save()
  }
  update(data: Uint8Array): void {
    const h = wasm!
    h.load(this.state)
    h.update(data)
    this.state = h.save()
  }
  digest(): Uint8Array {
    const h = wasm!
    h.load(this.state)
    return h.digest('binary')
  }
}

class NobleKeccakState implements KeccakState {
  private h = keccak_256.create()
  update(data: Uint8Array): void {
    this.h.update(data)
  }
  digest(): Uint8Array {
    return this.h.clone().digest()
  }
}

export function createKeccakState(): KeccakState {
  return useWasm ? new WasmKeccakState() : new NobleKeccakState()
}
