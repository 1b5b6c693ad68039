// Benchmark helpers: time a function for a fixed duration and print side-by-side rows with ratios
// against @ethereumjs/devp2p measured in the same run (the project's performance goals live here).
import { performance } from 'node:perf_hooks'

export interface Measure {
  opsPerSec: number
  iterations: number
}

/** Run f repeatedly for about `ms` milliseconds (after a short warm-up) and return ops/s. */
export async function measure(f: () => unknown | Promise<unknown>, ms = 1000): Promise<Measure> {
  const warm = performance.now() + Math.min(200, ms / 5)
  while (performance.now() < warm) await f()
  let n = 0
  const start = performance.now()
  const end = start + ms
  let now = start
  while (now < end) {
    await f()
    n++
    if ((n & 7) === 0) now = performance.now()
  }
  now = performance.now()
  return { opsPerSec: (n * 1000) / (now - start), iterations: n }
}

export interface Row {
  name: string
  unit: string
  ours: number
  ethjs?: number
  target?: string
}

function fmt(x: number): string {
  if (x >= 1000) return Math.round(x).toLocaleString('en-US')
  if (x >= 10) return x.toFixed(1)
  return x.toFixed(3)
}

/** Print rows as a table: ours, ethjs, ratio (ours / ethjs; > 1 means we are faster). */
export function report(title: string, rows: Row[]): void {
  console.log(`\n## ${title}`)
  console.log('| measure | unit | devp2p-actors | @ethereumjs/devp2p | ratio | target |')
  console.log('|---|---|---|---|---|---|')
  for (const r of rows) {
    const ratio = r.ethjs ? `${(r.ours / r.ethjs).toFixed(1)}×` : '–'
    console.log(
      `| ${r.name} | ${r.unit} | ${fmt(r.ours)} | ${r.ethjs === undefined ? '–' : fmt(r.ethjs)} | ${ratio} | ${r.target ?? ''} |`,
    )
  }
}

/** Bench payload: 64-byte random blocks each repeated once (about 2:1 compressible by snappy). */
export function payload(n: number): Uint8Array {
  const p = new Uint8Array(n)
  for (let i = 0; i < n; i += 128) {
    const r = crypto.getRandomValues(new Uint8Array(64))
    p.set(r.subarray(0, Math.min(64, n - i)), i)
    if (i + 64 < n) p.set(r.subarray(0, Math.min(64, n - i - 64)), i + 64)
  }
  return p
}
