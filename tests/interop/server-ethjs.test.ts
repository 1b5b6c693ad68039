// Interop of the whole server with @ethereumjs/devp2p 10 (issue 4 "Proof: Interop"), through the real command
// (`node bin/devp2p-actors.js node --json --port 0 --nodiscover`, spawned): an ethjs RLPx node dials our node and is
// accepted (Hello both ways, the `add` PeerEvent JSON line on stdout, a built-in protocol Ping answered), and our
// node dials an ethjs node given with --staticnodes and connects. ethjs gets a raw `devp2p-actors/1` capability
// so it shares the built-in protocol our node offers (actors/builtin-protocol.ts) beside eth (the devnet chain,
// which ethjs does not run). With --eth mainnet, ethjs's own ETH (mainnet at Prague) and our unsynced node accept
// each other's eth/68 Status. SIGTERM stops each command with exit 0 after it told ethjs DiscQuitting; ethjs
// nodes are closed and no handle is left.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  BUILTIN_MSG,
  BUILTIN_PROTOCOL_LENGTH,
  BUILTIN_PROTOCOL_NAME,
  BUILTIN_PROTOCOL_VERSION,
} from '../../actors/builtin-protocol.ts'
import { bytesToHex } from '../../codecs/bytes.ts'
import { NETWORKS } from '../../codecs/chains.ts'
import { parseNode } from '../../codecs/enode.ts'
import { DiscReason } from '../../codecs/p2p.ts'
import { asBigUint, asList, rlpDecode, rlpEncode } from '../../codecs/rlp.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { assertNoLeaks, resourceCounts } from '../helpers/peers.ts'
import {
  type EthjsCap,
  type EthjsNode,
  ethjsStatus,
  peerClosed,
  rawProtocol,
  startEthjsNode,
} from './ethjs-harness.ts'

const BIN = fileURLToPath(new URL('../../bin/devp2p-actors.js', import.meta.url))
const BUILTIN: EthjsCap = {
  name: BUILTIN_PROTOCOL_NAME,
  version: BUILTIN_PROTOCOL_VERSION,
  length: BUILTIN_PROTOCOL_LENGTH,
}

interface Command {
  child: ChildProcess
  lines: string[]
  /** the first stdout JSON line matching `pred` (already printed or the next one) */
  line(pred: (j: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>
  /** SIGTERM, resolving with the exit code */
  stop(): Promise<number | null>
}

function startCommand(...args: string[]): Command {
  const child = spawn(
    process.execPath,
    [BIN, 'node', '--json', '--port', '0', '--nodiscover', '--verbosity', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const lines: string[] = []
  const json: Record<string, unknown>[] = []
  const waiters: {
    pred: (j: Record<string, unknown>) => boolean
    resolve(j: Record<string, unknown>): void
  }[] = []
  let stderr = ''
  child.stderr!.on('data', (d) => {
    stderr += String(d)
  })
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l)
    if (!l.startsWith('{')) return
    const j = JSON.parse(l) as Record<string, unknown>
    json.push(j)
    for (const w of [...waiters])
      if (w.pred(j)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(j)
      }
  })
  const exit = once(child, 'exit').then(([code]) => code as number | null)
  return {
    child,
    lines,
    line(pred, ms = 20_000) {
      const seen = json.find(pred)
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(new Error(`no matching line in ${ms} ms; stdout: ${lines.join('\n')}; stderr: ${stderr}`)),
          ms,
        )
        waiters.push({
          pred,
          resolve: (j) => {
            clearTimeout(t)
            resolve(j)
          },
        })
      })
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exit
    },
  }
}

const idOf = (pubkey: Uint8Array) => bytesToHex(keccak256(pubkey))

/** ethjs sends a built-in Ping over its raw capability; our node must answer Pong with the same nonce. */
async function pingThroughEthjs(peer: Parameters<typeof rawProtocol>[0], nonce: bigint): Promise<void> {
  const proto = rawProtocol(peer, BUILTIN_PROTOCOL_NAME)
  const next = proto.inbox.next((m) => m.code === BUILTIN_MSG.pong, 5000, 'Pong')
  proto.send(BUILTIN_MSG.ping, rlpEncode([nonce]))
  const pong = await next
  assert.equal(asBigUint(asList(rlpDecode(pong.payload), 'pong', 1)[0], 'nonce', 8), nonce)
}

describe('the node command with @ethereumjs/devp2p', () => {
  it('accepts an ethjs node that dials it (Hello, add event, built-in Ping/Pong) and stops on SIGTERM', async () => {
    const base = resourceCounts()
    const cmd = startCommand()
    let ethjs: EthjsNode | undefined
    try {
      const started = await cmd.line((j) => j.event === 'started')
      const ours = parseNode(String(started.enode))
      assert.equal(started.id, bytesToHex(ours.id))
      assert.equal(ours.ip, '127.0.0.1')
      ethjs = await startEthjsNode({ caps: [BUILTIN], listen: false })
      const peer = await ethjs.dial(ours.pubkey, ours.tcp!, 10_000)
      // ethjs saw our Hello: our id, name, the built-in capability beside eth (sorted as geth does), snappy (v5)
      const hello = peer.getHelloMessage()!
      assert.equal(bytesToHex(hello.id), bytesToHex(ours.pubkey))
      assert.match(hello.clientId, /^devp2p-actors\//)
      assert.deepEqual(
        hello.capabilities.map((c) => `${c.name}/${c.version}`),
        [`${BUILTIN.name}/${BUILTIN.version}`, 'eth/68', 'eth/69', 'eth/70', 'eth/71', 'eth/72'],
      )
      assert.equal(hello.protocolVersion, 5)
      // our node added it as an inbound peer and says so on stdout in geth's PeerEvent shape
      const add = await cmd.line((j) => j.type === 'add')
      assert.equal(add.peer, idOf(ethjs.pubkey))
      assert.equal(add.local, `127.0.0.1:${ours.tcp}`)
      assert.match(String(add.remote), /^127\.0\.0\.1:\d+$/)
      await pingThroughEthjs(peer, 7n)
      await pingThroughEthjs(peer, 0x1234_5678_9abc_def0n)

      const closed = peerClosed(peer, 10_000)
      assert.equal(await cmd.stop(), 0)
      const c = await closed
      assert.equal(c.reason, DiscReason.Quitting, 'ethjs was told DiscQuitting')
      assert.equal(c.disconnectWe, false)
      const drop = await cmd.line((j) => j.type === 'drop')
      assert.equal(drop.peer, idOf(ethjs.pubkey))
    } finally {
      await cmd.stop()
      await ethjs?.close()
    }
    await assertNoLeaks(base, 5000)
  })

  it("--eth mainnet: ethjs's own ETH (mainnet at Prague) and our unsynced node accept each other's Status", async () => {
    const base = resourceCounts()
    const cmd = startCommand('--eth', 'mainnet')
    let ethjs: EthjsNode | undefined
    try {
      const ours = parseNode(String((await cmd.line((j) => j.event === 'started')).enode))
      ethjs = await startEthjsNode({ realEth: true, listen: false })
      const peer = await ethjs.dial(ours.pubkey, ours.tcp!, 10_000)
      const theirs = await ethjsStatus(peer)
      // what ethjs saw: mainnet, genesis, the fork id of a node at genesis (Frontier, next Homestead)
      assert.deepEqual(theirs.chainId, Uint8Array.of(1))
      assert.deepEqual(theirs.genesisHash, NETWORKS.mainnet.forks.genesisHash)
      assert.deepEqual(theirs.forkId.map(bytesToHex), ['fc64ec04', '118c30'])
      // ours took ethjs's Prague fork id (a superset of our forks: EIP-2124 rule 3) and says so on stdout
      const join = await cmd.line((j) => j.event === 'eth')
      assert.deepEqual(join, { event: 'eth', type: 'join', peer: idOf(ethjs.pubkey), version: 68 })
      assert.equal(await cmd.stop(), 0)
    } finally {
      await cmd.stop()
      await ethjs?.close()
    }
    await assertNoLeaks(base, 5000)
  })

  it('dials an ethjs node given with --staticnodes and connects (Hello, add events on both sides)', async () => {
    const base = resourceCounts()
    const ethjs = await startEthjsNode({ caps: [BUILTIN] })
    const enode = `enode://${bytesToHex(ethjs.pubkey)}@127.0.0.1:${ethjs.port}`
    const cmd = startCommand('--staticnodes', enode)
    try {
      const started = await cmd.line((j) => j.event === 'started')
      const ours = parseNode(String(started.enode))
      // ethjs accepted our dial: both Hellos through with the shared built-in capability
      const peer = await ethjs.peerOf(ours.pubkey, 20_000)
      assert.equal(bytesToHex(peer.getHelloMessage()!.id), bytesToHex(ours.pubkey))
      const add = await cmd.line((j) => j.type === 'add')
      assert.equal(add.peer, idOf(ethjs.pubkey))
      assert.equal(add.remote, `127.0.0.1:${ethjs.port}`)
      await pingThroughEthjs(peer, 42n)

      const closed = peerClosed(peer, 10_000)
      assert.equal(await cmd.stop(), 0)
      assert.equal((await closed).reason, DiscReason.Quitting)
      await cmd.line((j) => j.type === 'drop' && j.peer === idOf(ethjs.pubkey))
    } finally {
      await cmd.stop()
      await ethjs.close()
    }
    await assertNoLeaks(base, 5000)
  })
})
