// keccak-256 sponge core in WebAssembly, emitted at load time by this module (no build step, no binary blob):
// the Keccak-f[1600] permutation (FIPS 202 §3.2–3.3: θ, ρ, π, χ, ι over 24 rounds) absorbing whole 136-byte
// blocks with the 25 lanes held in WebAssembly locals for a whole run of blocks. JS does the sponge
// bookkeeping (partial block, padding). Measured on Node 20: ≈ 1.2× hash-wasm's keccak (whose C code keeps
// the state in linear memory and makes θ, ρ, π and χ separate passes over it), which bounds RLPx frame speed.
// crypto/keccak.ts uses it after a self-check against @noble/hashes, with hash-wasm as the fallback.
// No secret-dependent branches or memory accesses: the permutation is straight-line 64-bit ALU work, and JS
// branches only on lengths.
//
// API
//   createKeccakCore() → KeccakCore | null   null when WebAssembly is unavailable or the module fails to build
//   KeccakCore.window        input window (WINDOW_SIZE bytes); after final() its first 32 bytes hold the digest
//   KeccakCore.state         the running state inside the module's memory (lanes, partial block, fill count):
//                            copy it out and back in to park and resume a hash (the RLPx MAC does)
//   init() / update(n) (absorb window[0..n)) / final(padding) (0x01 for keccak-256; ends that hash)
//   hash(n, padding)         init + update(n) + final(padding) in one absorb call (the padding is written
//                            in place after the input: the memory past the window has room for it)

/** keccak-256 rate: 1600 − 2·256 bits */
export const KECCAK_256_RATE = 136
/** bytes of input accepted per update() */
export const WINDOW_SIZE = 64 * 1024

export interface KeccakCore {
  window: Uint8Array
  state: Uint8Array
  init(): void
  update(length: number): void
  final(padding: number): void
  hash(length: number, padding: number): void
}

// memory layout (2 pages of 64 KiB): running state | round constants | input window
const LANES = 0 // 25 × 8 bytes
const PARTIAL = 200 // one partial block (≤ 135 bytes used)
const FILL = 336 // u32: bytes in the partial block
const STATE_SIZE = 340
const RC_AT = 384 // 24 × 8 bytes
const WINDOW_AT = 1024
/** the window ends at 66 560: the rest of the second page holds hash()'s padding block */
const PAGES = 2

/** ι round constants (FIPS 202 Algorithm 5, rc(t) packed per round) */
const ROUND_CONSTANTS = [
  0x0000000000000001n,
  0x0000000000008082n,
  0x800000000000808an,
  0x8000000080008000n,
  0x000000000000808bn,
  0x0000000080000001n,
  0x8000000080008081n,
  0x8000000000008009n,
  0x000000000000008an,
  0x0000000000000088n,
  0x0000000080008009n,
  0x000000008000000an,
  0x000000008000808bn,
  0x800000000000008bn,
  0x8000000000008089n,
  0x8000000000008003n,
  0x8000000000008002n,
  0x8000000000000080n,
  0x000000000000800an,
  0x800000008000000an,
  0x8000000080008081n,
  0x8000000000008080n,
  0x0000000080000001n,
  0x8000000080008008n,
]

/** ρ rotation offsets r[x][y] (FIPS 202 Table 2) */
const RHO = [
  [0, 36, 3, 41, 18],
  [1, 44, 10, 45, 2],
  [62, 6, 43, 15, 61],
  [28, 55, 25, 21, 56],
  [27, 20, 39, 8, 14],
]

// WebAssembly opcodes used below (WebAssembly core spec §5.4)
const Op = {
  Block: 0x02,
  Loop: 0x03,
  End: 0x0b,
  Br: 0x0c,
  BrIf: 0x0d,
  LocalGet: 0x20,
  LocalSet: 0x21,
  LocalTee: 0x22,
  I64Load: 0x29,
  I64Store: 0x37,
  I32Const: 0x41,
  I64Const: 0x42,
  I32Eqz: 0x45,
  I32LtU: 0x49,
  I32Add: 0x6a,
  I32Sub: 0x6b,
  I32Shl: 0x74,
  I64And: 0x83,
  I64Xor: 0x85,
  I64Rotl: 0x89,
} as const
const VOID_BLOCK = 0x40
const I32 = 0x7f
const I64 = 0x7e

function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n) b |= 0x80
    out.push(b)
  } while (n)
  return out
}

function sleb64(value: bigint): number[] {
  const out: number[] = []
  let v = BigInt.asIntN(64, value)
  for (;;) {
    const b = Number(v & 0x7fn)
    v >>= 7n
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b)
      return out
    }
    out.push(b | 0x80)
  }
}

/**
 * The body of `absorb(ptr: i32, blocks: i32)`: load the lanes, XOR each 136-byte block at ptr into lanes 0–16
 * and permute, store the lanes. Locals: 0 ptr, 1 blocks, 2 round, then i64 A[25] (state, lane x + 5y),
 * B[25] (after ρ and π), C[5] and D[5] (θ).
 */
function absorbBody(): number[] {
  const PTR = 0
  const BLOCKS = 1
  const ROUND = 2
  const a = (x: number, y: number) => 3 + x + 5 * y
  const b = (x: number, y: number) => 28 + x + 5 * y
  const c = (x: number) => 53 + x
  const d = (x: number) => 58 + x
  const code: number[] = []
  const emit = (...bytes: number[]) => {
    for (const x of bytes) code.push(x)
  }
  const get = (l: number) => emit(Op.LocalGet, ...uleb(l))
  const set = (l: number) => emit(Op.LocalSet, ...uleb(l))
  // i64.load / i64.store with alignment 2^3 and a constant offset
  const load = (offset: number) => emit(Op.I64Load, 3, ...uleb(offset))
  const store = (offset: number) => emit(Op.I64Store, 3, ...uleb(offset))

  for (let i = 0; i < 25; i++) {
    emit(Op.I32Const, 0)
    load(LANES + 8 * i)
    set(3 + i)
  }
  emit(Op.Block, VOID_BLOCK, Op.Loop, VOID_BLOCK)
  get(BLOCKS)
  emit(Op.I32Eqz, Op.BrIf, 1)
  for (let i = 0; i < KECCAK_256_RATE / 8; i++) {
    get(3 + i)
    get(PTR)
    load(8 * i)
    emit(Op.I64Xor)
    set(3 + i)
  }
  emit(Op.I32Const, 0)
  set(ROUND)
  emit(Op.Loop, VOID_BLOCK)
  // θ: C[x] = A[x,0] ^ … ^ A[x,4]; D[x] = C[x−1] ^ rot(C[x+1], 1)
  for (let x = 0; x < 5; x++) {
    get(a(x, 0))
    for (let y = 1; y < 5; y++) {
      get(a(x, y))
      emit(Op.I64Xor)
    }
    set(c(x))
  }
  for (let x = 0; x < 5; x++) {
    get(c((x + 4) % 5))
    get(c((x + 1) % 5))
    emit(Op.I64Const, 1, Op.I64Rotl, Op.I64Xor)
    set(d(x))
  }
  // θ applied, then ρ and π: B[y, 2x+3y] = rot(A[x,y] ^ D[x], r[x][y])
  for (let x = 0; x < 5; x++) {
    for (let y = 0; y < 5; y++) {
      get(a(x, y))
      get(d(x))
      emit(Op.I64Xor)
      const r = RHO[x]![y]!
      if (r !== 0) emit(Op.I64Const, ...sleb64(BigInt(r)), Op.I64Rotl)
      set(b(y, (2 * x + 3 * y) % 5))
    }
  }
  // χ: A[x,y] = B[x,y] ^ (~B[x+1,y] & B[x+2,y])
  for (let x = 0; x < 5; x++) {
    for (let y = 0; y < 5; y++) {
      get(b(x, y))
      get(b((x + 1) % 5, y))
      emit(Op.I64Const, ...sleb64(-1n), Op.I64Xor)
      get(b((x + 2) % 5, y))
      emit(Op.I64And, Op.I64Xor)
      set(a(x, y))
    }
  }
  // ι: A[0,0] ^= RC[round]; next round while round < 24
  get(a(0, 0))
  get(ROUND)
  emit(Op.I32Const, 3, Op.I32Shl)
  load(RC_AT)
  emit(Op.I64Xor)
  set(a(0, 0))
  get(ROUND)
  emit(Op.I32Const, 1, Op.I32Add, Op.LocalTee, ...uleb(ROUND))
  emit(Op.I32Const, 24, Op.I32LtU, Op.BrIf, 0)
  emit(Op.End)
  // next block
  get(PTR)
  emit(Op.I32Const, ...sleb64(BigInt(KECCAK_256_RATE)), Op.I32Add)
  set(PTR)
  get(BLOCKS)
  emit(Op.I32Const, 1, Op.I32Sub)
  set(BLOCKS)
  emit(Op.Br, 0, Op.End, Op.End)
  for (let i = 0; i < 25; i++) {
    emit(Op.I32Const, 0)
    get(3 + i)
    store(LANES + 8 * i)
  }
  emit(Op.End)
  const locals = [...uleb(2), ...uleb(1), I32, ...uleb(60), I64]
  return [...locals, ...code]
}

/** The module: one function `absorb(i32, i32)` and one exported memory. */
function moduleBytes(): Uint8Array {
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content]
  const name = (s: string) => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))]
  const body = absorbBody()
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...section(1, [1, 0x60, 2, I32, I32, 0]), // type 0: (i32, i32) → ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0, PAGES]), // one memory, min PAGES
    ...section(7, [2, ...name('absorb'), 0, 0, ...name('memory'), 2, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ])
}

// the WebAssembly global, typed here: the project's lib settings do not declare it
interface WasmApi {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { exports: object }
}

/** Build the core, or null when WebAssembly is missing or refuses the module. */
export function createKeccakCore(): KeccakCore | null {
  const WA = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly
  if (!WA) return null
  let ex: { absorb(ptr: number, blocks: number): void; memory: { buffer: ArrayBuffer } }
  try {
    ex = new WA.Instance(new WA.Module(moduleBytes()), {}).exports as typeof ex
  } catch {
    return null
  }
  const buf = ex.memory.buffer
  const mem = new Uint8Array(buf)
  const rc = new DataView(buf, RC_AT, 8 * ROUND_CONSTANTS.length)
  for (const [i, k] of ROUND_CONSTANTS.entries()) rc.setBigUint64(8 * i, k, true)
  const fill = new Uint32Array(buf, FILL, 1)
  const absorb = ex.absorb
  const rate = KECCAK_256_RATE
  return {
    window: new Uint8Array(buf, WINDOW_AT, WINDOW_SIZE),
    state: new Uint8Array(buf, LANES, STATE_SIZE),
    init() {
      mem.fill(0, LANES, STATE_SIZE)
    },
    update(length) {
      let p = WINDOW_AT
      let n = length
      let f = fill[0]!
      if (f > 0) {
        const take = Math.min(rate - f, n)
        mem.copyWithin(PARTIAL + f, p, p + take)
        f += take
        p += take
        n -= take
        if (f < rate) {
          fill[0] = f
          return
        }
        absorb(PARTIAL, 1)
      }
      const blocks = Math.floor(n / rate)
      if (blocks > 0) {
        absorb(p, blocks)
        p += blocks * rate
        n -= blocks * rate
      }
      if (n > 0) mem.copyWithin(PARTIAL, p, p + n)
      fill[0] = n
    },
    final(padding) {
      const f = fill[0]!
      mem.fill(0, PARTIAL + f, PARTIAL + rate)
      mem[PARTIAL + f] = mem[PARTIAL + f]! ^ padding
      mem[PARTIAL + rate - 1] = mem[PARTIAL + rate - 1]! ^ 0x80
      absorb(PARTIAL, 1)
      fill[0] = 0
      mem.copyWithin(WINDOW_AT, LANES, LANES + 32)
    },
    hash(length, padding) {
      const end = WINDOW_AT + length
      const last = end - (length % rate)
      mem.fill(0, LANES, LANES + 200)
      mem.fill(0, end, last + rate)
      mem[end] = mem[end]! ^ padding
      mem[last + rate - 1] = mem[last + rate - 1]! ^ 0x80
      absorb(WINDOW_AT, (last - WINDOW_AT) / rate + 1)
      fill[0] = 0
      mem.copyWithin(WINDOW_AT, LANES, LANES + 32)
    },
  }
}
