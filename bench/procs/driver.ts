// Spawns bench processes (bench/procs/rlpx-node.ts, server-node.ts) as child processes (its own V8 and event loop, like a real remote peer) and
// sends it commands over IPC; shared by the two-process RLPx benchmarks.
import { type ChildProcess, fork } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const script = join(here, 'rlpx-node.ts')
// BENCH_LOADER=plain: load our TypeScript with plain-ts.mjs (esbuild, no keepNames) instead of tsx
const loader = process.env.BENCH_LOADER === 'plain' ? join(here, 'plain-ts.mjs') : 'tsx'

export interface NodeProc {
  impl: string
  child: ChildProcess
  call<T = Record<string, unknown>>(cmd: Record<string, unknown>, timeoutMs?: number): Promise<T>
  exit(): Promise<void>
}

type Reply = { ok: boolean; result?: unknown; error?: string }

/**
 * Fork `scriptPath` (a bench process speaking {cmd} → {ok, result?, error?} over IPC) under our loader, wait for
 * its start reply, and return a handle that sends commands and awaits their replies.
 */
export async function spawnBenchProc(
  scriptPath: string,
  args: string[],
  label: string,
  nodeFlags: string[] = [],
): Promise<NodeProc> {
  const child = fork(scriptPath, args, {
    execArgv: [
      ...nodeFlags,
      // BENCH_V8='<flags>': extra node/V8 flags for every bench process (e.g. --no-allocation-site-pretenuring)
      ...(process.env.BENCH_V8 ? process.env.BENCH_V8.split(' ') : []),
      '--expose-gc',
      '--import',
      loader,
      // BENCH_PROF=<dir>: write a V8 CPU profile of each child process there (node --cpu-prof)
      ...(process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let pending: ((r: Reply) => void) | undefined
  child.on('message', (r: Reply) => {
    const p = pending
    pending = undefined
    p?.(r)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const next = (timeoutMs: number, what: string) =>
    new Promise<Reply>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${label}: no reply to ${what} in ${timeoutMs} ms`)),
        timeoutMs,
      )
      pending = (r) => {
        clearTimeout(t)
        resolve(r)
      }
      exited.then(() => {
        clearTimeout(t)
        reject(new Error(`${label} exited during ${what}`))
      })
    })
  const ready = await next(30_000, 'start')
  if (!ready.ok) throw new Error(ready.error)
  return {
    impl: label,
    child,
    async call<T>(cmd: Record<string, unknown>, timeoutMs = 120_000): Promise<T> {
      const r = next(timeoutMs, String(cmd.cmd))
      child.send(cmd)
      const reply = await r
      if (!reply.ok) throw new Error(`${label} ${String(cmd.cmd)}: ${reply.error}`)
      return reply.result as T
    },
    async exit() {
      if (child.exitCode !== null) return
      child.send({ cmd: 'exit' })
      const t = setTimeout(() => child.kill(), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

export async function spawnNode(impl: 'ours' | 'ethjs', nodeFlags: string[] = []): Promise<NodeProc> {
  const proc = await spawnBenchProc(script, [impl], `${impl} node`, nodeFlags)
  proc.impl = impl
  return proc
}

/** The middle value; for an even count the mean of the two middle values. */
export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
