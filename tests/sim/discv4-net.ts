// A simulated discovery v4 network in one process (tests/sim and bench/discovery.bench.ts): n services on
// 127.0.0.1 with distinct ephemeral ports, all bootstrapped from the first one; helpers to wait for table fill,
// compute the true k closest nodes of a target from the full node list, total the packet statistics, and run
// lookups in a pool of bounded concurrency.
import { createDiscv4, type Discv4, type Discv4Config } from '../../actors/discovery/service.ts'
import { closest, idKey } from '../../codecs/kad.ts'
import type { Node, NodeId } from '../../codecs/node.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'

export interface SimNet {
  boot: Discv4
  nodes: Discv4[]
  /** ms (performance.now) when each node was started */
  startedAt: number[]
  stop(): Promise<void>
}

export interface SimNetOptions {
  /** extra service options for every node (timers, timeouts) */
  config?: Partial<Discv4Config>
  /** start the nodes in groups of this size (default: all at once) */
  batch?: number
  /** pause between groups in ms */
  batchGapMs?: number
}

/** Start `n` nodes: node 0 is the bootnode of all others. */
export async function startNet(n: number, opts: SimNetOptions = {}): Promise<SimNet> {
  const base = { bindAddr: '127.0.0.1', ...opts.config }
  const boot = createDiscv4({ ...base, privateKey: generatePrivateKey() })
  await boot.start()
  await boot.initDone
  const nodes: Discv4[] = [boot]
  const startedAt: number[] = [performance.now()]
  const bootUrl = boot.self()
  const batch = opts.batch ?? n
  for (let i = 1; i < n; i += batch) {
    const group: Discv4[] = []
    for (let j = i; j < Math.min(n, i + batch); j++)
      group.push(createDiscv4({ ...base, privateKey: generatePrivateKey(), bootnodes: [bootUrl] }))
    await Promise.all(
      group.map(async (d) => {
        await d.start()
        nodes.push(d)
        startedAt.push(performance.now())
      }),
    )
    if (opts.batchGapMs && i + batch < n) await new Promise((r) => setTimeout(r, opts.batchGapMs))
  }
  return {
    boot,
    nodes,
    startedAt,
    stop: async () => {
      await Promise.all(nodes.map((d) => d.stop()))
    },
  }
}

/**
 * Poll until every node's table holds at least `min` nodes or `timeoutMs` passes; returns, per node, the ms after
 * its start at which it first held `min` (undefined if never).
 */
export async function waitTables(
  net: SimNet,
  min: number,
  timeoutMs: number,
  pollMs = 25,
): Promise<Array<number | undefined>> {
  const reached: Array<number | undefined> = net.nodes.map(() => undefined)
  const end = performance.now() + timeoutMs
  for (;;) {
    const now = performance.now()
    net.nodes.forEach((d, i) => {
      if (reached[i] === undefined && d.table.len() >= min) reached[i] = now - net.startedAt[i]!
    })
    if (reached.every((x) => x !== undefined) || now > end) return reached
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

/** The id a 64-byte public key target maps to (keccak256). */
export function targetId(pubkey: Uint8Array): NodeId {
  return keccak256(pubkey)
}

/** The k nodes of the whole network closest to the target, excluding `self` (a node never finds itself). */
export function trueClosest(net: SimNet, target: Uint8Array, k: number, self?: Discv4): Node[] {
  const all = net.nodes.filter((d) => d !== self).map((d) => d.self())
  return closest(targetId(target), all, k)
}

/** How many of `want` appear in `got` (by id). */
export function overlap(want: Node[], got: Node[]): number {
  const ids = new Set(got.map((n) => idKey(n.id)))
  return want.filter((n) => ids.has(idKey(n.id))).length
}

/** Sum of every node's transport statistics. */
export function totals(net: SimNet): {
  packetsIn: number
  packetsOut: number
  bytesOut: number
  maxPacketOut: number
} {
  const t = { packetsIn: 0, packetsOut: 0, bytesOut: 0, maxPacketOut: 0 }
  for (const d of net.nodes) {
    const s = d.stats()
    t.packetsIn += s.packetsIn
    t.packetsOut += s.packetsOut
    t.bytesOut += s.bytesOut
    t.maxPacketOut = Math.max(t.maxPacketOut, s.maxPacketOut)
  }
  return t
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

/**
 * Run `fn(i)` for i = 0 … n−1 with at most `concurrency` running at once, each next one starting as soon as one
 * ends (no batch waits for its slowest member).
 */
export async function inPool(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < n) await fn(next++)
  }
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker))
}
