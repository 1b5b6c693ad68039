// Runs tests/fixtures/short-lived-actors.ts in a child process with --trace-gc-nvp (plus the given node flags and
// environment) and sums the bytes its scavenges promoted; also what it says it applied (actors/v8-tuning.ts).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const child = fileURLToPath(new URL('../fixtures/short-lived-actors.ts', import.meta.url))

export function promotedBytes(
  env: NodeJS.ProcessEnv,
  nodeFlags: string[] = [],
): Promise<{ bytes: number; applied: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeFlags, '--trace-gc-nvp', '--import', 'tsx', child, '20000'],
      { env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => {
        if (err) return reject(err)
        assert.match(stdout, /^done$/m)
        let bytes = 0
        for (const m of stdout.matchAll(/gc=s .*?promoted=(\d+)/g)) bytes += Number(m[1])
        resolve({ bytes, applied: /^applied ?(.*)$/m.exec(stdout)?.[1] ?? '' })
      },
    )
  })
}
