// The compiled package (tsconfig.build.json, `npm run build`, run by `prepare` on install): the library compiles
// to JavaScript with declarations, and loads and works under plain node — no tsx, no TypeScript loader —
// as an application embedding devp2p-actors would use it (package.json "exports" → dist/).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
// inside the checkout, so the compiled files resolve their dependencies from its node_modules
const out = mkdtempSync(join(root, 'node_modules', '.devp2p-build-test-'))
after(() => rmSync(out, { recursive: true, force: true }))

const run = (file: string, args: string[], cwd = root) =>
  new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(file, args, { cwd, timeout: 120_000 }, (e, stdout, stderr) =>
      e ? reject(Object.assign(e, { stdout, stderr })) : resolve({ stdout, stderr }),
    ),
  )

test('the library compiles with declarations and runs under plain node: two servers connect on 127.0.0.1', async () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', out])
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  assert.equal(pkg.exports['.'].default, './dist/index.js')
  assert.equal(pkg.exports['.'].types, './dist/index.d.ts')
  assert.match(readFileSync(join(out, 'index.d.ts'), 'utf8'), /createServer/)
  // no relative import keeps its .ts extension
  assert.doesNotMatch(readFileSync(join(out, 'actors', 'server.js'), 'utf8'), /from '\.[^']*\.ts'/)
  const script = `
    const { createServer, generatePrivateKey, createBuiltinProtocol } = await import(${JSON.stringify(join(out, 'index.js'))})
    const mk = () => createServer({ privateKey: generatePrivateKey(), listenAddr: '127.0.0.1:0', noDiscovery: true,
      protocols: [createBuiltinProtocol()] })
    const a = mk(), b = mk()
    await a.start(); await b.start()
    const added = new Promise((r) => a.events$.subscribe((e) => e.type === 'add' && r(e)))
    b.addPeer({ ...a.self(), ip: '127.0.0.1' })
    await added
    const loaders = process.execArgv.filter((f) => /^--(import|loader|experimental-loader|require)/.test(f))
    console.log(JSON.stringify({ a: a.peerCount(), loaders }))
    await b.stop(); await a.stop()
  `
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script])
  const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}')
  assert.equal(r.a, 1)
  assert.deepEqual(r.loaders, [])
})
