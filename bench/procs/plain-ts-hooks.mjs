// Node module hooks for bench processes that should run our TypeScript WITHOUT tsx's `keepNames` (tsx wraps
// every named closure created at run time in `__name(fn, …)`, an Object.defineProperty that gives each closure a
// ~256-byte dictionary property store — an artefact of running .ts through tsx, not of the code). Strips types
// with esbuild (tsx's own dependency), format ESM, no keepNames. Used with BENCH_LOADER=plain.
import { readFile } from 'node:fs/promises'
import { transform } from 'esbuild'

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts') || url.includes('/node_modules/'))
    return nextLoad(url, context)
  const source = await readFile(new URL(url), 'utf8')
  const out = await transform(source, { loader: 'ts', format: 'esm', target: 'es2022', sourcefile: url })
  return { format: 'module', source: out.code, shortCircuit: true }
}
