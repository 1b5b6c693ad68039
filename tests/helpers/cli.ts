// Running the real `devp2p-actors` binary (bin/devp2p-actors.js) from tests and checking its one-line failures;
// the `node` command's default flags for tests that build its config without running it.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../../bin/devp2p-actors.js', import.meta.url))

/** The `node` command's flags as commander hands them to nodeConfig / nodeEth with its defaults (port 0, quiet). */
export const NODE_FLAGS = {
  port: '0',
  addr: '127.0.0.1',
  maxpeers: '5',
  maxpendpeers: '0',
  nat: 'none',
  verbosity: '0',
  ntp: 'none',
  eth: 'devnet',
  'metrics.addr': '127.0.0.1',
  'metrics.port': '6060',
  'http.addr': '127.0.0.1',
  'http.port': '8545',
  'http.api': 'net,web3',
  'http.vhosts': 'localhost',
}

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Run the binary to completion (60 s bound) and collect its exit code and output. */
export function run(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/** A failure: non-zero exit, nothing on stdout, one `devp2p-actors: …` line on stderr matching `text` (a string is a regex fragment after the prefix). */
export function assertFails(r: Run, text: string | RegExp): void {
  assert.notEqual(r.code, 0)
  assert.equal(r.stdout, '')
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, r.stderr)
  assert.match(lines[0]!, /^devp2p-actors: /)
  assert.match(lines[0]!, typeof text === 'string' ? new RegExp(`^devp2p-actors: .*${text}`) : text)
}
