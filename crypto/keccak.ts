// keccak-256 seam. Fast path: a WebAssembly keccak core driven directly (crypto/keccak-wasm.ts, emitted by
// this project, ≈ 1.2× hash-wasm; used after a self-check), else hash-wasm's keccak module (~10× noble);
// fallback: @noble/hashes. Also the shared-hasher running state the RLPx MAC needs (save/load).
//
// The fast path drives one core instance of our own (init / update / final on an input window, the running
// state copied in and out of its memory): hash-wasm's IHasher save()/load() allocate a prefixed copy and
// build a DataView on every call, which made them the largest cost of an RLPx frame. When our core is
// unavailable, hash-wasm's compiled module is taken from hash-wasm itself (captured while createKeccak
// instantiates it) and driven the same way through its exports; if that fails too, the IHasher save/load
// path below is used instead. DEVP2P_KECCAK=hash-wasm skips our core.
import { keccak_256 } from '@noble/hashes/sha3.js'
import { createKeccak, type IHasher } from 'hash-wasm'
import { onBackendChange } from './backend.ts'
import { createKeccakCore, type KeccakCore } from './keccak-wasm.ts'

// the WebAssembly global, typed here: the project's lib settings do not declare it
type WasmModule = object
interface WasmApi {
  Module: abstract new (...args: never[]) => WasmModule
  Memory: abstract new (...args: never[]) => { buffer: ArrayBuffer }
  Instance: new (module: WasmModule, imports: object) => { exports: object }
  instantiate: (...args: unknown[]) => unknown
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

/** The exports of hash-wasm's keccak module (hash-wasm src/sha3.c). */
interface KeccakExports {
  memory: { buffer: ArrayBuffer }
  Hash_GetBuffer(): number
  Hash_GetState(): number
  Hash_Init(bits: number): void
  Hash_Update(length: number): void
  Hash_Final(padding: number): void
  Hash_Calculate(length: number, bits: number, padding: number): void
  STATE_SIZE: { value: unknown }
}

/** hash-wasm's input window (MAX_HEAP): at most this many bytes per Hash_Update */
const HASH_WASM_WINDOW = 16 * 1024
/** keccak-256 domain padding byte (original Keccak, as Ethereum uses) */
const KECCAK_PAD = 0x01
const DIGEST_SIZE = 32

/** A keccak instance driven directly: our core, or hash-wasm's module behind the same shape. */
interface Direct {
  core: KeccakCore
  /** core.window: the input window; after final() its first 32 bytes hold the digest */
  window: Uint8Array
  /** core.state: the running state inside the instance's memory */
  state: Uint8Array
  /** the state right after init() */
  initial: Uint8Array
  /** one call for a whole keccak-256 of window[0..n) */
  calculate: (length: number) => void
  /** which implementation this is */
  kind: 'core' | 'hash-wasm'
}

let wasm: IHasher | null = null
let direct: Direct | null = null
/** The state object whose running state the direct instance holds right now (saves one load), or null. */
let loaded: DirectKeccakState | null = null

async function captureModule(): Promise<{ hasher: IHasher; module: WasmModule | undefined }> {
  const instantiate = WA.instantiate
  let module: WasmModule | undefined
  const spy = function (this: unknown, ...args: unknown[]) {
    if (args[0] instanceof WA.Module) module = args[0]
    return instantiate.apply(this, args)
  }
  WA.instantiate = spy
  try {
    return { hasher: await createKeccak(256), module }
  } finally {
    if (WA.instantiate === spy) WA.instantiate = instantiate
  }
}

/** Wrap a direct core and self-check it against a fixed vector and hash-wasm's own API (when loaded). */
function makeDirect(
  core: KeccakCore,
  calculate: (length: number) => void,
  kind: Direct['kind'],
): Direct | null {
  core.init()
  const d: Direct = {
    core,
    window: core.window,
    state: core.state,
    initial: core.state.slice(),
    calculate,
    kind,
  }
  // keccak256('') = c5d2…a470, then a probe longer than the window, split at an odd point
  const empty = directHash(d, [new Uint8Array(0)])
  if (empty[0] !== 0xc5 || empty[31] !== 0x70) return null
  const short = directHash(d, [Uint8Array.of(1, 2, 3)])
  const shortRef = keccak_256(Uint8Array.of(1, 2, 3))
  for (let i = 0; i < DIGEST_SIZE; i++) if (short[i] !== shortRef[i]) return null
  const probe = new Uint8Array(d.window.length + 300).map((_, i) => i * 31)
  const mine = directHash(d, [probe.subarray(0, 137), probe.subarray(137)])
  const theirs = wasm ? wasm.init().update(probe).digest('binary') : keccak_256(probe)
  for (let i = 0; i < DIGEST_SIZE; i++) if (mine[i] !== theirs[i]) return null
  return d
}

/** hash-wasm's keccak module, instantiated again for our own use, as a KeccakCore. */
function hashWasmDirect(module: WasmModule): Direct | null {
  const ex = new WA.Instance(module, {}).exports as KeccakExports
  if (typeof ex.Hash_Update !== 'function' || !(ex.memory instanceof WA.Memory)) return null
  const mem = ex.memory.buffer
  const size = new DataView(mem).getUint32(ex.STATE_SIZE.value as number, true)
  const core: KeccakCore = {
    window: new Uint8Array(mem, ex.Hash_GetBuffer(), HASH_WASM_WINDOW),
    state: new Uint8Array(mem, ex.Hash_GetState(), size),
    init: () => ex.Hash_Init(256),
    update: (n) => ex.Hash_Update(n),
    final: (padding) => ex.Hash_Final(padding),
    hash: (n, padding) => ex.Hash_Calculate(n, 256, padding),
  }
  return makeDirect(core, (n) => ex.Hash_Calculate(n, 256, KECCAK_PAD), 'hash-wasm')
}

let hashWasmModule: WasmModule | undefined
try {
  const { hasher, module } = await captureModule()
  wasm = hasher
  hashWasmModule = module
} catch {
  wasm = null
}
for (const make of [
  () => {
    // DEVP2P_KECCAK=hash-wasm skips our core (to compare, or to test the fallback)
    const core = process.env.DEVP2P_KECCAK === 'hash-wasm' ? null : createKeccakCore()
    return core ? makeDirect(core, (n) => core.hash(n, KECCAK_PAD), 'core') : null
  },
  () => (hashWasmModule ? hashWasmDirect(hashWasmModule) : null),
]) {
  try {
    direct = make()
  } catch {
    direct = null
  }
  if (direct) break
}
/** Which keccak the fast path runs: 'core' (crypto/keccak-wasm.ts), 'hash-wasm' (direct or IHasher), or null. */
export const fastKeccak: 'core' | 'hash-wasm' | null = direct ? direct.kind : wasm ? 'hash-wasm' : null

let useWasm = false
onBackendChange((b) => {
  useWasm = b === 'fast' && (direct !== null || wasm !== null)
})

function feed(d: Direct, data: Uint8Array): void {
  const n = data.length
  const w = d.window.length
  if (n <= w) {
    d.window.set(data)
    d.core.update(n)
    return
  }
  for (let o = 0; o < n; o += w) {
    const chunk = data.subarray(o, Math.min(n, o + w))
    d.window.set(chunk)
    d.core.update(chunk.length)
  }
}

function directHash(d: Direct, chunks: Uint8Array[]): Uint8Array {
  loaded = null
  if (chunks.length === 1 && chunks[0]!.length <= d.window.length) {
    const c = chunks[0]!
    d.window.set(c)
    d.calculate(c.length)
    return d.window.slice(0, DIGEST_SIZE)
  }
  d.core.init()
  for (const c of chunks) feed(d, c)
  d.core.final(KECCAK_PAD)
  return d.window.slice(0, DIGEST_SIZE)
}

/** keccak-256 of the concatenation of the given chunks. */
export function keccak256(...chunks: Uint8Array[]): Uint8Array {
  if (useWasm) {
    if (direct) return directHash(direct, chunks)
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
 * The wasm variant keeps its state as a 400-byte snapshot and borrows the one shared keccak instance
 * (load → update → save), so thousands of connections cost no WebAssembly memory each.
 */
export interface KeccakState {
  update(data: Uint8Array): void
  /** digest of everything so far; the state continues */
  digest(): Uint8Array
  /**
   * Optional fast path: update(data), then write the digest of everything so far into `out` (≥ 32 bytes)
   * without allocating. Callers fall back to update + digest when a state lacks it.
   */
  updateDigest?(data: Uint8Array, out: Uint8Array): void
}

class DirectKeccakState implements KeccakState {
  private readonly saved: Uint8Array
  constructor(private readonly d: Direct) {
    this.saved = d.initial.slice()
  }
  /** make the instance hold this state (a no-op when it already does) */
  private use(): void {
    if (loaded !== this) {
      this.d.state.set(this.saved)
      loaded = this
    }
  }
  update(data: Uint8Array): void {
    this.use()
    feed(this.d, data)
    this.saved.set(this.d.state)
  }
  digest(): Uint8Array {
    this.use()
    loaded = null
    this.d.core.final(KECCAK_PAD)
    return this.d.window.slice(0, DIGEST_SIZE)
  }
  updateDigest(data: Uint8Array, out: Uint8Array): void {
    const d = this.d
    this.use()
    feed(d, data)
    this.saved.set(d.state)
    loaded = null
    d.core.final(KECCAK_PAD)
    out.set(d.window.subarray(0, DIGEST_SIZE))
  }
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
  updateDigest(data: Uint8Array, out: Uint8Array): void {
    this.h.update(data)
    out.set(this.h.clone().digest())
  }
}

export function createKeccakState(): KeccakState {
  if (!useWasm) return new NobleKeccakState()
  return direct ? new DirectKeccakState(direct) : new WasmKeccakState()
}
