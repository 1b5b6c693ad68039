// Persistent (immutable-API) Map and Set for machine contexts that change by one key per event: `set` and
// `delete` return a new version in O(1) instead of copying the whole collection, and every older version stays
// valid and unchanged as seen from outside. Used by the server supervisor (machines/server.machine.ts) for its
// connection and peer maps and by the dial scheduler (machines/dial-scheduler.ts) for its peer sets.
//
// How: Baker's rerooting ("shallow binding"). All versions of one lineage share one native Map. The version
// that currently owns it (the root) reads it directly; every other version holds a one-key diff pointing
// towards the root. Reading an older version first moves the root to it, inverting the diffs on the way
// (O(distance)); the newest version — the one a machine context holds — is always the root, so reading it and
// deriving the next version are O(1). `size` is stored per version and never needs a reroot.
//
// | operation                    | newest version | older version            |
// |------------------------------|----------------|--------------------------|
// | get / has                    | O(1)           | O(versions in between)   |
// | set / delete (new version)   | O(1)           | same reroot, then O(1)   |
// | size                         | O(1)           | O(1)                     |
// | iteration (keys/values/…)    | O(n) copy      | reroot + O(n) copy       |
//
// Iteration hands out a copy of the entries, so reading other versions while iterating is safe. Not safe for
// concurrent use from several threads (nothing in this project shares them). Values are not copied: treat them
// as immutable, as with a ReadonlyMap.

interface Diff<K, V> {
  key: K
  /** whether this version has `key`, and its value here */
  had: boolean
  value: V | undefined
  /** the version this one differs from, one step closer to the root */
  next: PersistentMap<K, V>
}

export class PersistentMap<K, V> implements ReadonlyMap<K, V> {
  private data: Map<K, V> | Diff<K, V>
  readonly size: number

  private constructor(data: Map<K, V> | Diff<K, V>, size: number) {
    this.data = data
    this.size = size
  }

  static empty<K, V>(): PersistentMap<K, V> {
    return new PersistentMap<K, V>(new Map(), 0)
  }

  static from<K, V>(entries: Iterable<readonly [K, V]>): PersistentMap<K, V> {
    const m = new Map<K, V>(entries)
    return new PersistentMap(m, m.size)
  }

  /** Make this version the owner of the shared Map and return it. */
  private own(): Map<K, V> {
    if (this.data instanceof Map) return this.data
    const path: PersistentMap<K, V>[] = []
    let cur: PersistentMap<K, V> = this
    while (!(cur.data instanceof Map)) {
      path.push(cur)
      cur = cur.data.next
    }
    const m = cur.data
    for (let i = path.length - 1; i >= 0; i--) {
      const x = path[i]!
      const d = x.data as Diff<K, V>
      const y = d.next
      const yHad = m.has(d.key)
      const yValue = m.get(d.key)
      if (d.had) m.set(d.key, d.value as V)
      else m.delete(d.key)
      y.data = { key: d.key, had: yHad, value: yValue, next: x }
      x.data = m
    }
    return m
  }

  get(key: K): V | undefined {
    return this.own().get(key)
  }

  has(key: K): boolean {
    return this.own().has(key)
  }

  /** A new version with `key` set to `value`. */
  set(key: K, value: V): PersistentMap<K, V> {
    const m = this.own()
    const had = m.has(key)
    const old = m.get(key)
    m.set(key, value)
    const next = new PersistentMap<K, V>(m, this.size + (had ? 0 : 1))
    this.data = { key, had, value: old, next }
    return next
  }

  /** A new version without `key` (this version when it has no `key`). */
  delete(key: K): PersistentMap<K, V> {
    const m = this.own()
    if (!m.has(key)) return this
    const old = m.get(key)
    m.delete(key)
    const next = new PersistentMap<K, V>(m, this.size - 1)
    this.data = { key, had: true, value: old, next }
    return next
  }

  entries(): MapIterator<[K, V]> {
    return [...this.own()][Symbol.iterator]() as MapIterator<[K, V]>
  }

  keys(): MapIterator<K> {
    return [...this.own().keys()][Symbol.iterator]() as MapIterator<K>
  }

  values(): MapIterator<V> {
    return [...this.own().values()][Symbol.iterator]() as MapIterator<V>
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

/** A persistent Set over PersistentMap (same costs). */
export class PersistentSet<T> implements ReadonlySet<T> {
  private constructor(private readonly map: PersistentMap<T, true>) {}

  static empty<T>(): PersistentSet<T> {
    return new PersistentSet(PersistentMap.empty<T, true>())
  }

  /** `s` itself when it is a PersistentSet, else a persistent copy of it. */
  static of<T>(s: ReadonlySet<T>): PersistentSet<T> {
    return s instanceof PersistentSet
      ? s
      : new PersistentSet(PersistentMap.from([...s].map((v) => [v, true])))
  }

  get size(): number {
    return this.map.size
  }

  has(v: T): boolean {
    return this.map.has(v)
  }

  /** A new version with `v` (this version when it has `v`). */
  add(v: T): PersistentSet<T> {
    return this.map.has(v) ? this : new PersistentSet(this.map.set(v, true))
  }

  /** A new version without `v` (this version when it has no `v`). */
  delete(v: T): PersistentSet<T> {
    return this.map.has(v) ? new PersistentSet(this.map.delete(v)) : this
  }

  keys(): SetIterator<T> {
    return this.map.keys() as unknown as SetIterator<T>
  }

  values(): SetIterator<T> {
    return this.keys()
  }

  entries(): SetIterator<[T, T]> {
    return [...this.map.keys()].map((v): [T, T] => [v, v])[Symbol.iterator]() as SetIterator<[T, T]>
  }

  [Symbol.iterator](): SetIterator<T> {
    return this.keys()
  }

  forEach(fn: (value: T, value2: T, set: ReadonlySet<T>) => void, thisArg?: unknown): void {
    for (const v of this.keys()) fn.call(thisArg, v, v, this)
  }

  get [Symbol.toStringTag](): string {
    return 'PersistentSet'
  }
}
