// A persistent (immutable-API) Map for machine contexts that change by one key per event: `set` and `delete`
// return a new version sharing all but one path with the old one, and every older version stays valid and
// unchanged. Used by the server supervisor (machines/server.machine.ts) for its connection and peer maps and by
// the dial scheduler (machines/dial-scheduler.ts) for its dialing and history maps.
//
// How: a hash array mapped trie (Bagwell's HAMT): 32-way nodes indexed by 5 bits of the key's 32-bit hash,
// each holding only its present slots (a bitmap and a packed array); keys whose hashes are equal share a
// collision node. A change copies the nodes on one root-to-leaf path (≤ 7, about log32 n: 2 for a few
// hundred keys). New versions only point to older nodes, never the other way round — so a dead version
// promoted to the old generation never keeps younger versions alive (the earlier version-diff design chained
// every version to the next one, and the young-generation GC promoted whole chains of dead versions).
//
// | operation                  | cost                          |
// |----------------------------|-------------------------------|
// | get / has                  | O(log32 n)                    |
// | set / delete (new version) | O(log32 n) + one path copy    |
// | size                       | O(1)                          |
// | iteration (keys/values/…)  | O(n) copy of the entries      |
// | some(pred)                 | O(n), no copy                 |
//
// Keys are compared as Map does (SameValueZero). Strings and numbers hash by value; other keys by identity.
// Values are not copied: treat them as immutable, as with a ReadonlyMap.

/** a key-value pair */
interface Leaf<K, V> {
  readonly t: 0
  readonly h: number
  readonly k: K
  readonly v: V
}

/** 32-way node: bit i of `bitmap` set ⇔ slot i present; `items` holds the present slots in slot order */
interface Branch<K, V> {
  readonly t: 1
  readonly bitmap: number
  readonly items: readonly Item<K, V>[]
}

/** leaves whose keys have the same full hash */
interface Collision<K, V> {
  readonly t: 2
  readonly h: number
  readonly leaves: readonly Leaf<K, V>[]
}

type Item<K, V> = Leaf<K, V> | Branch<K, V> | Collision<K, V>

const BITS = 5
const MASK = 31

/** Map's SameValueZero: `===`, except that NaN equals NaN */
const sameKey = (a: unknown, b: unknown): boolean => a === b || Object.is(a, b)

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) | 0
}

function hashString(s: string): number {
  // FNV-1a over the whole string when short, else over its first 8 and last 16 characters (ids differ at the
  // end — `peer:in:<n>` — or everywhere — hex node ids); a partial hash only costs collisions, never correctness
  let h = 0x811c9dc5 ^ s.length
  const n = s.length
  if (n <= 24) {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  } else {
    for (let i = 0; i < 8; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
    for (let i = n - 16; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  }
  return mix(h)
}

const objectIds = new WeakMap<object, number>()
const otherIds = new Map<unknown, number>()
let nextId = 1

function hashOf(k: unknown): number {
  if (typeof k === 'string') return hashString(k)
  if (typeof k === 'number') return Number.isInteger(k) ? mix(k | 0) : hashString(String(k))
  if ((typeof k === 'object' && k !== null) || typeof k === 'function') {
    let id = objectIds.get(k as object)
    if (id === undefined) {
      id = nextId++
      objectIds.set(k as object, id)
    }
    return mix(id)
  }
  if (typeof k === 'bigint' || typeof k === 'boolean' || k === undefined || k === null)
    return hashString(`${typeof k}:${String(k)}`)
  // symbols: by identity (kept for good, as Map keys would be)
  let id = otherIds.get(k)
  if (id === undefined) {
    id = nextId++
    otherIds.set(k, id)
  }
  return mix(id)
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333)
  x = (x + (x >>> 4)) & 0x0f0f0f0f
  return Math.imul(x, 0x01010101) >>> 24
}

const EMPTY: Branch<never, never> = { t: 1, bitmap: 0, items: [] }

function leaf<K, V>(h: number, k: K, v: V): Leaf<K, V> {
  return { t: 0, h, k, v }
}

function branch<K, V>(bitmap: number, items: readonly Item<K, V>[]): Branch<K, V> {
  return { t: 1, bitmap, items }
}

function lookup<K, V>(root: Branch<K, V>, h: number, k: K): Leaf<K, V> | undefined {
  let node: Item<K, V> = root
  let shift = 0
  for (;;) {
    if (node.t === 1) {
      const bit = 1 << ((h >>> shift) & MASK)
      if ((node.bitmap & bit) === 0) return undefined
      node = node.items[popcount(node.bitmap & (bit - 1))]!
      shift += BITS
    } else if (node.t === 0) {
      return sameKey(node.k, k) ? node : undefined
    } else {
      if (node.h !== h) return undefined
      for (const l of node.leaves) if (sameKey(l.k, k)) return l
      return undefined
    }
  }
}

/** A node holding two items with different hashes (or a collision node when their hashes are equal). */
function pair<K, V>(shift: number, a: Leaf<K, V> | Collision<K, V>, b: Leaf<K, V>): Item<K, V> {
  if (a.h === b.h) {
    const leaves = a.t === 0 ? [a, b] : [...a.leaves, b]
    return { t: 2, h: b.h, leaves }
  }
  const ia = (a.h >>> shift) & MASK
  const ib = (b.h >>> shift) & MASK
  if (ia === ib) return branch(1 << ia, [pair(shift + BITS, a, b)])
  return branch((1 << ia) | (1 << ib), ia < ib ? [a, b] : [b, a])
}

function replaced<T>(items: readonly T[], i: number, x: T): T[] {
  const out = items.slice()
  out[i] = x
  return out
}

/** `node` with k → v; `node` itself when nothing changes. `added` tells whether the key is new. */
function insert<K, V>(node: Item<K, V>, shift: number, l: Leaf<K, V>, added: { v: boolean }): Item<K, V> {
  if (node.t === 1) {
    const bit = 1 << ((l.h >>> shift) & MASK)
    const i = popcount(node.bitmap & (bit - 1))
    if ((node.bitmap & bit) === 0) {
      added.v = true
      const items = node.items.slice()
      items.splice(i, 0, l)
      return branch(node.bitmap | bit, items)
    }
    const child = node.items[i]!
    const next = insert(child, shift + BITS, l, added)
    return next === child ? node : branch(node.bitmap, replaced(node.items, i, next))
  }
  if (node.t === 0) {
    if (sameKey(node.k, l.k)) return node.v === l.v ? node : l
    added.v = true
    return pair(shift, node, l)
  }
  if (node.h === l.h) {
    const j = node.leaves.findIndex((x) => sameKey(x.k, l.k))
    if (j >= 0) {
      return node.leaves[j]!.v === l.v ? node : { t: 2, h: node.h, leaves: replaced(node.leaves, j, l) }
    }
    added.v = true
    return { t: 2, h: node.h, leaves: [...node.leaves, l] }
  }
  added.v = true
  return pair(shift, node, l)
}

/** `node` without k: the same node when k is absent, undefined when the node becomes empty. */
function remove<K, V>(
  node: Item<K, V>,
  shift: number,
  h: number,
  k: K,
  top: boolean,
): Item<K, V> | undefined {
  if (node.t === 1) {
    const bit = 1 << ((h >>> shift) & MASK)
    if ((node.bitmap & bit) === 0) return node
    const i = popcount(node.bitmap & (bit - 1))
    const child = node.items[i]!
    const next = remove(child, shift + BITS, h, k, false)
    if (next === child) return node
    if (next === undefined) {
      if (node.items.length === 1) return top ? EMPTY : undefined
      const items = node.items.slice()
      items.splice(i, 1)
      // a branch left with one leaf (or collision) is replaced by it, so lookups stay short
      if (!top && items.length === 1 && items[0]!.t !== 1) return items[0]
      return branch(node.bitmap & ~bit, items)
    }
    if (!top && node.items.length === 1 && next.t !== 1) return next
    return branch(node.bitmap, replaced(node.items, i, next))
  }
  if (node.t === 0) return sameKey(node.k, k) ? undefined : node
  if (node.h !== h) return node
  const j = node.leaves.findIndex((x) => sameKey(x.k, k))
  if (j < 0) return node
  if (node.leaves.length === 2) return node.leaves[1 - j]
  const leaves = node.leaves.slice()
  leaves.splice(j, 1)
  return { t: 2, h: node.h, leaves }
}

/** whether `pred` holds for an entry under `node`, visiting no more entries than needed and copying none */
function someLeaf<K, V>(node: Item<K, V>, pred: (v: V, k: K) => boolean): boolean {
  if (node.t === 0) return pred(node.v, node.k)
  if (node.t === 1) {
    for (const c of node.items) if (someLeaf(c, pred)) return true
    return false
  }
  for (const l of node.leaves) if (pred(l.v, l.k)) return true
  return false
}

function collect<K, V, T>(node: Item<K, V>, out: T[], f: (l: Leaf<K, V>) => T): T[] {
  if (node.t === 0) out.push(f(node))
  else if (node.t === 1) for (const c of node.items) collect(c, out, f)
  else for (const l of node.leaves) out.push(f(l))
  return out
}

export class PersistentMap<K, V> implements ReadonlyMap<K, V> {
  private readonly root: Branch<K, V>
  readonly size: number

  private constructor(root: Branch<K, V>, size: number) {
    this.root = root
    this.size = size
  }

  static empty<K, V>(): PersistentMap<K, V> {
    return new PersistentMap<K, V>(EMPTY as Branch<K, V>, 0)
  }

  static from<K, V>(entries: Iterable<readonly [K, V]>): PersistentMap<K, V> {
    let m = PersistentMap.empty<K, V>()
    for (const [k, v] of entries) m = m.set(k, v)
    return m
  }

  get(key: K): V | undefined {
    return lookup(this.root, hashOf(key), key)?.v
  }

  has(key: K): boolean {
    return lookup(this.root, hashOf(key), key) !== undefined
  }

  /** A new version with `key` set to `value` (this version when it already maps `key` to `value`). */
  set(key: K, value: V): PersistentMap<K, V> {
    const added = { v: false }
    const root = insert(this.root, 0, leaf(hashOf(key), key, value), added) as Branch<K, V>
    return root === this.root ? this : new PersistentMap(root, this.size + (added.v ? 1 : 0))
  }

  /** A new version without `key` (this version when it has no `key`). */
  delete(key: K): PersistentMap<K, V> {
    const root = remove(this.root, 0, hashOf(key), key, true) as Branch<K, V>
    return root === this.root ? this : new PersistentMap(root, this.size - 1)
  }

  /** Whether `pred` holds for some entry (in no particular order); stops at the first, copies nothing. */
  some(pred: (value: V, key: K) => boolean): boolean {
    return someLeaf(this.root, pred)
  }

  entries(): MapIterator<[K, V]> {
    return collect(this.root, [] as [K, V][], (l) => [l.k, l.v])[Symbol.iterator]() as MapIterator<[K, V]>
  }

  keys(): MapIterator<K> {
    return collect(this.root, [] as K[], (l) => l.k)[Symbol.iterator]() as MapIterator<K>
  }

  values(): MapIterator<V> {
    return collect(this.root, [] as V[], (l) => l.v)[Symbol.iterator]() as MapIterator<V>
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries()
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this)
  }

  get [Symbol.toStringTag](): string {
    return 'PersistentMap'
  }
}
