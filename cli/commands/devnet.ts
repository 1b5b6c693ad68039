// `devp2p-actors devnet`: the main job today — a local devnet of N nodes on 127.0.0.1 (in-memory node DBs,
// discovery v4 bootstrapped from node 0, the built-in devp2p-actors/1 protocol and eth/72 to eth/68 over a devnet
// chain: DEVNET_CHAIN), with progress output: every peer event as it happens and a status table (peers, eth
// peers, connections, discovery table size, transactions in the pool, supervisor state) at a fixed interval.
// Each node has an in-memory pool (actors/memory-tx-pool.ts) behind geth's transaction fetcher; with --txs the
// nodes issue transactions in turn, which reach every pool by broadcast, announcement and fetch. Ctrl-C / SIGTERM,
// or --duration, stop every node cleanly (exit 0).
//
// Output: readable lines by default; with --json, JSON lines {"event":"started",node,enode,...},
// {"event":"peer",node,...PeerEvent}, {"event":"status",t,nodes:[{node,state,peers,eth,connections,table,txpool}]},
// {"event":"stopped"}.
//
// Dashboard (cli/dashboard/): on by default at http://127.0.0.1:DEFAULT_DASHBOARD_PORT/ (an ephemeral port when that one
// is taken), `--dashboard PORT` for a given port (0 = ephemeral, no fallback), `--no-dashboard` for none. Its URL is
// printed before the nodes start: `dashboard: http://127.0.0.1:PORT/`, or {"event":"dashboard","url"} with --json.
// It binds 127.0.0.1 only and closes (every SSE stream with it) after the nodes stopped.
import type { Command } from 'commander'
import { map } from 'rxjs'
import { createBuiltinProtocol } from '../../actors/builtin-protocol.ts'
import {
  createEthProtocols,
  type EthChain,
  type EthProtocols,
  type EthProtocolsOptions,
  staticEthChain,
} from '../../actors/eth.ts'
import { MemoryTxPool } from '../../actors/memory-tx-pool.ts'
import { createServer, type Server } from '../../actors/server.ts'
import { rlpEncode } from '../../codecs/rlp.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'
import { createDevnetDashboard, type DevnetDashboard } from '../dashboard/devnet.ts'
import { out, stopSignal } from './util.ts'

interface DevnetOpts {
  nodes: string
  duration: string
  interval: string
  maxpeers: string
  txs: string
  json?: boolean
  /** undefined / true: the default port with fallback; a string: that port; false: --no-dashboard */
  dashboard?: string | boolean
}

/**
 * The devnet's chain for the eth protocol: network id 1337, a genesis of its own (keccak256 of the devnet's
 * name: no real network shares it) and no forks; every node's head stays at genesis.
 */
export const DEVNET_CHAIN = staticEthChain({
  networkId: 1337n,
  forks: { genesisHash: keccak256(new TextEncoder().encode('devp2p-actors devnet')), blocks: [], times: [] },
})

/**
 * A devnet node's eth side: eth/72 to eth/68 over DEVNET_CHAIN (network id overridable) whose reader serves the
 * node's MemoryTxPool, the pool behind the transaction fetcher and, as geth's handler does with its pool's
 * NewTxsEvent, every transaction new to it broadcast to the peers (ours and theirs alike).
 */
export function devnetEth(
  opts: Pick<EthProtocolsOptions, 'inspect' | 'metrics'> & { networkId?: bigint } = {},
): { eth: EthProtocols; chain: EthChain; pool: MemoryTxPool } {
  const pool: MemoryTxPool = new MemoryTxPool({ onAdded: (txs) => eth.broadcastTransactions(txs) })
  const chain = staticEthChain({
    networkId: opts.networkId ?? DEVNET_CHAIN.networkId,
    forks: DEVNET_CHAIN.forks,
    reader: {
      headerByNumber: () => undefined,
      headerByHash: () => undefined,
      pooledTransaction: (h) => pool.get(h),
    },
  })
  const eth = createEthProtocols({
    chain,
    txPool: pool,
    ...(opts.inspect && { inspect: opts.inspect }),
    ...(opts.metrics && { metrics: opts.metrics }),
  })
  return { eth, chain, pool }
}

/**
 * The n-th devnet transaction: a legacy transaction's RLP (nonce n, gas price 1, 21000 gas, to the issuing node's
 * 20-byte address, no value) — unsigned: the devnet's pools check nothing, and the eth layer needs only its hash,
 * type and size.
 */
export function devnetTransaction(n: number, node: number): Uint8Array {
  return rlpEncode([n, 1, 21000, new Uint8Array(20).fill(node & 0xff), 0, new TextEncoder().encode('devnet')])
}

/** The dashboard's default port (an ephemeral one is taken when it is in use). */
export const DEFAULT_DASHBOARD_PORT = 3387

/** Upper bound on --nodes: each node is a full server with discovery; keep a laptop responsive. */
export const MAX_DEVNET_NODES = 200

function count(name: string, text: string, min: number, max: number): number {
  const n = Number(text)
  if (!/^\d+(\.\d+)?$/.test(text) || n < min || n > max)
    throw new Error(`invalid ${name} ${JSON.stringify(text)}`)
  return n
}

export interface DevnetStatus {
  node: number
  state: string
  peers: number
  /** peers past the eth Status handshake */
  eth: number
  connections: number
  table: number
  /** transactions in the node's pool */
  txpool: number
}

function statusOf(
  i: number,
  srv: Server,
  eth: EthProtocols,
  pool: MemoryTxPool,
  state: string,
): DevnetStatus {
  const s = srv.stats()
  return {
    node: i,
    state,
    peers: s.peers,
    eth: eth.peers().length,
    connections: s.connections,
    table: srv.discovery?.table.len() ?? 0,
    txpool: pool.size,
  }
}

export async function runDevnet(opts: DevnetOpts): Promise<void> {
  const n = count('--nodes', opts.nodes, 1, MAX_DEVNET_NODES)
  const duration = count('--duration', opts.duration, 0, 7 * 24 * 3600)
  const interval = count('--interval', opts.interval, 0.1, 3600)
  const maxPeers = count('--maxpeers', opts.maxpeers, 1, 1000)
  const txRate = count('--txs', opts.txs, 0, 1000)
  const dashPort =
    opts.dashboard === false
      ? undefined
      : typeof opts.dashboard === 'string'
        ? count('--dashboard port', opts.dashboard, 0, 65535)
        : DEFAULT_DASHBOARD_PORT
  if (dashPort !== undefined && !Number.isInteger(dashPort))
    throw new Error(`invalid --dashboard port ${JSON.stringify(opts.dashboard)}`)
  const dash: DevnetDashboard | undefined =
    dashPort === undefined ? undefined : createDevnetDashboard({ nodes: n })
  let dashUrl = ''
  if (dash && dashPort !== undefined) {
    // before any output: a port that is taken (given explicitly) fails like a bad flag, nothing on stdout
    try {
      dashUrl = (await dash.listen(dashPort, { fallback: typeof opts.dashboard !== 'string' })).url
    } catch (e) {
      await dash.close()
      throw new Error(`dashboard: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  const servers: Server[] = []
  const eths: EthProtocols[] = []
  const pools: MemoryTxPool[] = []
  const states: string[] = []
  const started = Date.now()
  const signal = stopSignal()
  const mk = (i: number, bootnodes: string[]) => {
    const { eth, pool } = devnetEth(dash ? { inspect: dash.ethInspect(i) } : {})
    eths.push(eth)
    pools.push(pool)
    const srv = createServer({
      privateKey: generatePrivateKey(),
      name: `devp2p-actors/devnet-${i}/v0.1.0`,
      listenAddr: '127.0.0.1:0',
      maxPeers,
      bootstrapNodes: bootnodes,
      protocols: [createBuiltinProtocol(), ...eth.protocols],
      ...(dash ? { inspect: dash.inspect(i) } : {}),
    })
    dash?.attach(i, srv, eth, pool)
    servers.push(srv)
    states.push('idle')
    srv.snapshot$.pipe(map((s) => String(s.value))).subscribe((v) => {
      states[i] = v
    })
    srv.events$.subscribe((e) => {
      if (opts.json) out(JSON.stringify({ event: 'peer', node: i, ...e }))
      else if (e.type === 'add') out(`node${i}  + peer ${e.peer.slice(0, 16)}… ${e.remote ?? ''}`)
      else if (e.type === 'drop') out(`node${i}  - peer ${e.peer.slice(0, 16)}… ${e.error ?? ''}`)
    })
    return srv
  }
  const report = () => {
    const t = Math.round((Date.now() - started) / 100) / 10
    const rows = servers.map((srv, i) => statusOf(i, srv, eths[i]!, pools[i]!, states[i]!))
    if (opts.json) {
      out(JSON.stringify({ event: 'status', t, nodes: rows }))
      return
    }
    const peers = rows.reduce((a, r) => a + r.peers, 0)
    out(`status t=${t}s  ${rows.length} nodes, ${peers / 2} connections`)
    for (const r of rows)
      out(
        `  node${r.node}  ${r.state.padEnd(8)} peers ${r.peers} (eth ${r.eth})  conns ${r.connections}  table ${r.table}  txpool ${r.txpool}`,
      )
  }
  let timer: NodeJS.Timeout | undefined
  let txTimer: NodeJS.Timeout | undefined
  try {
    if (dash) out(opts.json ? JSON.stringify({ event: 'dashboard', url: dashUrl }) : `dashboard: ${dashUrl}`)
    const boot = mk(0, [])
    await boot.start()
    const bootEnode = boot.nodeInfo().enode
    await Promise.all(Array.from({ length: n - 1 }, (_, k) => mk(k + 1, [bootEnode]).start()))
    servers.forEach((srv, i) => {
      dash?.started(i, srv)
      const info = srv.nodeInfo()
      if (opts.json)
        out(JSON.stringify({ event: 'started', node: i, enode: info.enode, enr: info.enr, id: info.id }))
      else out(`node${i}  started ${info.enode}`)
    })
    timer = setInterval(report, interval * 1000)
    // transactions from the nodes in turn, spread over the devnet by broadcast, announcement and the fetcher
    let sent = 0
    if (txRate > 0)
      txTimer = setInterval(() => {
        const node = sent % pools.length
        pools[node]!.addLocal(devnetTransaction(sent++, node))
      }, 1000 / txRate)
    const stops = [signal.signalled]
    if (duration > 0) stops.push(new Promise((r) => setTimeout(r, duration * 1000).unref()))
    await Promise.race(stops)
    report()
  } finally {
    signal.cancel()
    clearInterval(timer)
    clearInterval(txTimer)
    await Promise.all(servers.map((s) => s.stop()))
    await dash?.close()
    out(opts.json ? JSON.stringify({ event: 'stopped' }) : 'devnet stopped')
  }
}

export function register(program: Command): void {
  program
    .command('devnet')
    .description(
      'run a local devnet on 127.0.0.1: N nodes discovering and connecting to each other, with eth on a devnet chain',
    )
    .option('--nodes <n>', `number of nodes (1–${MAX_DEVNET_NODES})`, '5')
    .option('--duration <seconds>', 'stop after this many seconds (0 = until Ctrl-C)', '0')
    .option('--interval <seconds>', 'status output interval', '2')
    .option('--maxpeers <n>', 'maximum peers per node', '50')
    .option('--txs <per-second>', 'transactions the nodes issue in turn (0 = none)', '1')
    .option('--json', 'JSON lines on stdout')
    .option(
      '--dashboard [port]',
      `live statechart dashboard on http://127.0.0.1:PORT/ (default ${DEFAULT_DASHBOARD_PORT}, or any free port if that is taken; 0 = any free port)`,
    )
    .option('--no-dashboard', 'do not start the dashboard')
    .addHelpText(
      'after',
      `
The dashboard (on unless --no-dashboard; 127.0.0.1 only) is one self-contained page, updated live over
Server-Sent Events: the peer machine's statechart with how many peers are in each state across the devnet and
the drops by DiscReason, the eth-peer machine's statechart with the eth peers in each state, every node's
supervisor state, peers (in / out, and past the eth handshake), connections, discovery table size and pool size,
the selected node's peers (state, client, caps), and a log of recent transitions and peer events.
GET /state.json returns the whole current state as JSON; GET /events is the SSE stream.
`,
    )
    .action(async (opts: DevnetOpts) => {
      await runDevnet(opts)
    })
}
