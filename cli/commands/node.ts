// `devp2p-actors node`: run a p2p node (actors/server.ts createServer) with geth's flag names, offering eth/72
// to eth/68 (actors/eth.ts) over the chain --eth names, and the built-in `devp2p-actors/1` protocol
// (actors/builtin-protocol.ts). Ctrl-C / SIGTERM stop it cleanly (DiscQuitting to every peer, sockets and DB
// closed, exit 0).
//
// --eth devnet (default) is the chain of `devp2p-actors devnet` (network id 1337); mainnet, sepolia, holesky and
// hoodi are those networks with the head at genesis, as an unsynced geth announces it (codecs/chains.ts), and
// bring geth's bootnodes and DNS list unless --bootnodes / --discovery.dns are given; none offers the built-in
// protocol only. --networkid overrides the network id (geth's flag). On the devnet chain the node keeps an
// in-memory pool (actors/memory-tx-pool.ts) behind geth's transaction fetcher and passes new transactions on; on a
// public network it is never synced, so it ignores transactions as geth does until then (AcceptTxs).
//
// Flags (geth cmd/utils/flags.go names): --port (TCP and UDP, 0 = any; default 30303), --addr (listen IP;
// default 127.0.0.1 — pass 0.0.0.0 to listen on every interface as geth does), --discovery.port, --nodekey FILE,
// --nodekeyhex HEX, --identity NAME, --maxpeers, --maxpendpeers, --nodial, --staticnodes, --trustednodes,
// --bootnodes (comma-separated enode/enr lists), --discovery.dns enrtree://…,… (EIP-1459 lists as dial
// candidates; --nodiscover turns them off too, as in geth), --netrestrict CIDR,…, --nodiscover, --nat (default none here,
// geth: any), --datadir DIR (node DB in DIR/nodes, key in DIR/nodekey — created when missing), --nodedb DIR,
// --verbosity 0–5 (geth levels: silent, error, warn, info, debug, trace; logs go to stderr), --ntp HOST (clock
// check server after 32 consecutive discovery timeouts, geth ntp.go; none = off), --json.
//
// Output on stdout: with --json, JSON lines — first {"event":"started","enode","enr","id"}, then every geth
// PeerEvent ({"type":"add","peer":id,…}, {"type":"drop","peer":id,"error":…}) and the eth peer set's events
// ({"event":"eth","type":"join"|"leave"|"handshakeFailed","peer":id,"version",…}); without, readable lines
// (started, the eth chain, peer added / dropped, eth peer / eth refused, and the peer count every 30 s while it
// changed). --metrics (geth's flags --metrics.addr, default 127.0.0.1, and --metrics.port, default 6060) serves the
// server's and the eth fetcher's prom-client metrics at /debug/metrics/prometheus (actors/metrics-http.ts); its URL
// is printed after the started line ("metrics" in the JSON started line). --http (geth's --http.addr, default
// 127.0.0.1, --http.port 8545, --http.api net,web3 — admin on request — and --http.vhosts localhost) serves JSON-RPC
// (actors/rpc-http.ts, actors/rpc-api.ts: admin_nodeInfo / admin_peers / admin_addPeer …, net_*, web3_*); its URL
// is printed the same way ("http").
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import pino from 'pino'
import { Registry } from 'prom-client'
import { createBuiltinProtocol } from '../../actors/builtin-protocol.ts'
import { createClockCheck } from '../../actors/discovery/ntp.ts'
import { dnsDialCandidates } from '../../actors/dnsdisc.ts'
import {
  createEthProtocols,
  type EthChain,
  type EthProtocols,
  localForkId,
  staticEthChain,
} from '../../actors/eth.ts'
import type { MemoryTxPool } from '../../actors/memory-tx-pool.ts'
import { DEFAULT_METRICS_PORT, type MetricsServer, startMetricsServer } from '../../actors/metrics-http.ts'
import { startPeerDropper } from '../../actors/peer-dropper.ts'
import { DEFAULT_RPC_MODULES, nodeRpcMethods, RPC_MODULES, type RpcModule } from '../../actors/rpc-api.ts'
import { DEFAULT_RPC_PORT, type RpcServer, startRpcServer } from '../../actors/rpc-http.ts'
import { createServer, type ServerConfig, serverDefaults } from '../../actors/server.ts'
import { bytesToHex } from '../../codecs/bytes.ts'
import { NETWORK_NAMES, NETWORKS, type NetworkName, type NetworkParams } from '../../codecs/chains.ts'
import { formatEnode } from '../../codecs/enode.ts'
import { loadNodeKey, parsePrivateKeyHex, saveNodeKey } from '../../crypto/keys.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'
import { DEVNET_CHAIN, devnetEth } from './devnet.ts'
import { out, stopSignal } from './util.ts'

/** geth's default --port. */
export const DEFAULT_PORT = 30303
/** How often the readable output reports the peer count (geth logs "Looking for peers" on a similar cadence). */
export const STATUS_INTERVAL_MS = 30_000
/** --eth values: the devnet's chain, a public network at genesis, or none (the built-in protocol only). */
export const ETH_CHOICES = ['devnet', ...NETWORK_NAMES, 'none'] as const
/** geth --verbosity levels → pino levels. */
const LEVELS = ['silent', 'error', 'warn', 'info', 'debug', 'trace'] as const

interface NodeOpts {
  port: string
  addr: string
  'discovery.port'?: string
  nodekey?: string
  nodekeyhex?: string
  identity?: string
  maxpeers: string
  maxpendpeers: string
  nodial?: boolean
  staticnodes?: string
  trustednodes?: string
  bootnodes?: string
  'discovery.dns'?: string
  netrestrict?: string
  nodiscover?: boolean
  nat: string
  datadir?: string
  nodedb?: string
  verbosity: string
  ntp: string
  json?: boolean
  eth: string
  networkid?: string
  metrics?: boolean
  'metrics.addr': string
  http?: boolean
  'http.addr': string
  'http.port': string
  'http.api': string
  'http.vhosts': string
  'metrics.port': string
}

/** The eth protocols a node runs (--eth, --networkid) and the public network they belong to, if any. */
export interface NodeEth {
  eth: EthProtocols
  chain: EthChain
  /** the devnet chain's transaction pool (public networks take no transactions: the node is not synced) */
  pool?: MemoryTxPool
  /** the chain's name (devnet, mainnet, …) */
  name: string
  network: NetworkParams | undefined
}

const MAX_UINT64 = (1n << 64n) - 1n

/** --http.api: comma-separated module names, each one we serve. */
function rpcModules(text: string): RpcModule[] {
  const names = list(text)
  for (const n of names)
    if (!(RPC_MODULES as readonly string[]).includes(n))
      throw new Error(`invalid --http.api module ${JSON.stringify(n)} (one of ${RPC_MODULES.join(', ')})`)
  return names as RpcModule[]
}

/** The eth side of a node from its flags; undefined for --eth none (exported for tests). */
export function nodeEth(opts: Pick<NodeOpts, 'eth' | 'networkid'>, metrics?: Registry): NodeEth | undefined {
  const name = opts.eth
  if (!(ETH_CHOICES as readonly string[]).includes(name))
    throw new Error(`invalid --eth ${JSON.stringify(name)} (one of ${ETH_CHOICES.join(', ')})`)
  if (name === 'none') {
    if (opts.networkid !== undefined) throw new Error('--networkid needs an eth chain (not --eth none)')
    return undefined
  }
  const network = name === 'devnet' ? undefined : NETWORKS[name as NetworkName]
  const base = network ?? DEVNET_CHAIN
  let networkId = base.networkId
  if (opts.networkid !== undefined) {
    if (!/^\d+$/.test(opts.networkid) || BigInt(opts.networkid) > MAX_UINT64)
      throw new Error(`invalid --networkid ${JSON.stringify(opts.networkid)}`)
    networkId = BigInt(opts.networkid)
  }
  if (network) {
    // an unsynced node: geth ignores transactions until it is synced (AcceptTxs)
    const chain = staticEthChain({ networkId, forks: base.forks })
    return { eth: createEthProtocols({ chain, acceptTxs: () => false }), chain, name, network }
  }
  // the devnet's: a pool like the devnet nodes', so the node takes and passes on their transactions
  return { ...devnetEth({ networkId, ...(metrics && { metrics }) }), name, network }
}

function intFlag(name: string, text: string, max = 0xffff_ffff): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n > max) throw new Error(`invalid ${name} ${JSON.stringify(text)}`)
  return n
}

const list = (s: string | undefined): string[] =>
  (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')

function loadKey(opts: NodeOpts): Uint8Array {
  if (opts.nodekey !== undefined && opts.nodekeyhex !== undefined)
    throw new Error('give at most one of --nodekey and --nodekeyhex')
  if (opts.nodekeyhex !== undefined) return parsePrivateKeyHex(opts.nodekeyhex)
  if (opts.nodekey !== undefined) return loadNodeKey(opts.nodekey)
  if (opts.datadir !== undefined) {
    // geth: the key lives in the data directory and is generated on first start
    mkdirSync(opts.datadir, { recursive: true })
    const file = join(opts.datadir, 'nodekey')
    if (existsSync(file)) return loadNodeKey(file)
    const key = generatePrivateKey()
    saveNodeKey(file, key)
    return key
  }
  return generatePrivateKey()
}

/** Build the server config from the flags and the node's eth side (exported for tests). */
export function nodeConfig(opts: NodeOpts, eth: NodeEth | undefined = nodeEth(opts)): ServerConfig {
  const port = intFlag('--port', opts.port, 65535)
  const verbosity = intFlag('--verbosity', opts.verbosity, 5)
  const host = opts.addr.includes(':') ? `[${opts.addr}]` : opts.addr
  const discPort = opts['discovery.port']
  // geth: an empty --discovery.dns turns the lists off; bad URLs fail here (DNS_BAD_URL)
  // geth --mainnet etc.: the network's DNS list and bootnodes unless given (SetDNSDiscoveryDefaults, setBootstrapNodes)
  const dnsUrls = list(opts['discovery.dns'] ?? eth?.network?.dnsList)
  const nodeDatabase = opts.nodedb ?? (opts.datadir !== undefined ? join(opts.datadir, 'nodes') : undefined)
  const logger = pino(
    { level: LEVELS[verbosity]!, base: undefined },
    pino.destination({ dest: 2, sync: true }),
  )
  return {
    privateKey: loadKey(opts),
    name: opts.identity ? `devp2p-actors/${opts.identity}/v0.1.0` : 'devp2p-actors/v0.1.0',
    listenAddr: `${host}:${port}`,
    // without --discovery.port, UDP binds the port TCP got (the same number, also when --port is 0)
    ...(discPort !== undefined
      ? { discAddr: `${host}:${intFlag('--discovery.port', discPort, 65535)}` }
      : {}),
    maxPeers: intFlag('--maxpeers', opts.maxpeers),
    maxPendingPeers: intFlag('--maxpendpeers', opts.maxpendpeers) || undefined,
    noDial: opts.nodial === true,
    noDiscovery: opts.nodiscover === true,
    staticNodes: list(opts.staticnodes),
    trustedNodes: list(opts.trustednodes),
    bootstrapNodes:
      opts.bootnodes !== undefined ? list(opts.bootnodes) : [...(eth?.network?.bootnodes ?? [])],
    netRestrict: opts.netrestrict !== undefined ? list(opts.netrestrict) : undefined,
    nat: opts.nat,
    nodeDatabase,
    protocols: [...(eth?.eth.protocols ?? []), createBuiltinProtocol()],
    logger,
    ...(dnsUrls.length > 0 && opts.nodiscover !== true
      ? {
          dialCandidates: [
            dnsDialCandidates(dnsUrls, {
              onError: (url, err) => logger.warn({ url, err: String(err) }, 'DNS node list sync failed'),
            }),
          ],
        }
      : {}),
  }
}

/** Run the node until SIGINT / SIGTERM; resolves after a clean stop. */
export async function runNode(opts: NodeOpts): Promise<void> {
  // geth --metrics: one registry for the server's and the eth fetcher's metrics, served over HTTP once started
  const registry = opts.metrics ? new Registry() : undefined
  const metricsPort = intFlag('--metrics.port', opts['metrics.port'], 65535)
  const httpPort = intFlag('--http.port', opts['http.port'], 65535)
  const httpModules = rpcModules(opts['http.api'])
  const eth = nodeEth(opts, registry)
  const config = nodeConfig(opts, eth)
  if (registry) config.metrics = registry
  // geth checks the clock against NTP after 32 consecutive discovery timeouts (p2p/discover/ntp.go)
  const clockCheck =
    opts.ntp !== 'none' && !config.noDiscovery
      ? createClockCheck({ server: opts.ntp, logger: config.logger as pino.Logger })
      : undefined
  if (clockCheck) config.discovery = { ...config.discovery, clockCheck }
  if (eth?.network && !config.noDiscovery && /^(127\.|\[::1\]|localhost)/.test(config.listenAddr ?? ''))
    (config.logger as pino.Logger).warn(
      `listening on ${config.listenAddr} only: ${eth.name} nodes cannot reach this one (pass --addr 0.0.0.0)`,
    )
  const srv = createServer(config)
  let peers = 0
  let reported = ''
  // peer events that come before the started line are printed after it
  let held: string[] | undefined = []
  const print = (line: string) => (held ? held.push(line) : out(line))
  srv.events$.subscribe((e) => {
    if (opts.json) print(JSON.stringify(e))
    else if (e.type === 'add') {
      peers++
      print(`peer added    ${e.peer} ${e.remote ?? ''}`)
    } else if (e.type === 'drop') {
      peers--
      print(`peer dropped  ${e.peer} ${e.error ?? ''}`)
    }
  })
  eth?.eth.peerEvents$.subscribe((e) => {
    const peer = e.type === 'handshakeFailed' ? e.idHex : e.peer.idHex
    const version = e.type === 'handshakeFailed' ? e.version : e.peer.version
    const error = e.type === 'join' ? undefined : e.error?.message
    if (opts.json)
      print(
        JSON.stringify({ event: 'eth', type: e.type, peer, version, ...(error !== undefined && { error }) }),
      )
    else if (e.type === 'join') print(`eth peer      ${peer} eth/${version}`)
    else if (e.type === 'handshakeFailed') print(`eth refused   ${peer} eth/${version} ${error}`)
  })
  // handlers first: a signal that comes while starting (or right after the first line) still stops cleanly
  const signal = stopSignal()
  try {
    await srv.start()
  } catch (e) {
    signal.cancel()
    clockCheck?.close()
    throw e
  }
  let metricsServer: MetricsServer | undefined
  let rpcServer: RpcServer | undefined
  // the HTTP servers: one that cannot listen stops the node with its name in front of the error
  const serve = async <T>(what: string, start: () => Promise<T>): Promise<T> => {
    try {
      return await start()
    } catch (e) {
      signal.cancel()
      await metricsServer?.close()
      await srv.stop()
      clockCheck?.close()
      throw new Error(`${what}: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  if (registry)
    metricsServer = await serve('metrics', () =>
      startMetricsServer({ registry, host: opts['metrics.addr'], port: metricsPort }),
    )
  if (opts.http)
    rpcServer = await serve('http', () =>
      startRpcServer({
        methods: nodeRpcMethods(srv, {
          modules: httpModules,
          ...(eth && { networkId: eth.chain.networkId }),
        }),
        host: opts['http.addr'],
        port: httpPort,
        vhosts: list(opts['http.vhosts']),
      }),
    )
  const info = srv.nodeInfo()
  if (opts.json) {
    const urls = {
      ...(metricsServer && { metrics: metricsServer.url }),
      ...(rpcServer && { http: rpcServer.url }),
    }
    out(JSON.stringify({ event: 'started', enode: info.enode, enr: info.enr, id: info.id, ...urls }))
  } else {
    out(`started       ${formatEnode(srv.self())}`)
    const udp = config.noDiscovery ? ' (discovery off)' : `, discovery udp ${info.ports.discovery}`
    out(`listening on  ${info.listenAddr}${udp}`)
    if (eth) out(`eth           ${ethLine(eth)}`)
    if (metricsServer) out(`metrics       ${metricsServer.url}`)
    if (rpcServer) out(`http          ${rpcServer.url}`)
  }
  for (const line of held) out(line)
  held = undefined
  // geth's eth backend runs its peer dropper: a random peer goes every 3–7 minutes while the pools are full, once
  // the node is synced (a public network's node here never is: it does not sync)
  const dropper =
    eth &&
    startPeerDropper(srv, {
      maxPeers: config.maxPeers ?? serverDefaults.maxPeers,
      ...(config.dialRatio !== undefined && { dialRatio: config.dialRatio }),
      ...(config.noDial !== undefined && { noDial: config.noDial }),
      syncing: () => eth.pool === undefined,
      ...(registry && { metrics: registry }),
      ...(config.logger && { logger: config.logger }),
    })
  const status = setInterval(() => {
    if (opts.json) return
    const txpool = eth?.pool ? `, txpool ${eth.pool.size}` : ''
    const line = eth ? `${peers} (eth ${eth.eth.peers().length}${txpool})` : String(peers)
    if (line === reported) return
    reported = line
    out(`peers         ${line}`)
  }, STATUS_INTERVAL_MS)
  await signal.signalled
  clearInterval(status)
  dropper?.stop()
  await srv.stop()
  await metricsServer?.close()
  await rpcServer?.close()
  clockCheck?.close()
  if (!opts.json) out('stopped')
}

/** "eth/72, eth/71, eth/70, eth/69, eth/68 on mainnet (network id 1, genesis d4e5…, fork id fc64ec04 next 1150000)" */
function ethLine({ eth, chain, name }: NodeEth): string {
  const versions = eth.protocols.map((p) => `eth/${p.version}`).join(', ')
  const id = localForkId(chain)
  const genesis = bytesToHex(chain.forks.genesisHash).slice(0, 8)
  return `${versions} on ${name} (network id ${chain.networkId}, genesis ${genesis}…, fork id ${bytesToHex(id.hash)} next ${id.next})`
}

export function register(program: Command): void {
  program
    .command('node')
    .description(
      'run a devp2p node (RLPx server, discovery v4, eth/72 to eth/68, the built-in devp2p-actors/1 protocol)',
    )
    .option('--port <port>', 'TCP and UDP listening port (0 = any)', String(DEFAULT_PORT))
    .option('--addr <ip>', 'listening IP (geth listens on 0.0.0.0)', '127.0.0.1')
    .option('--discovery.port <port>', 'UDP port for discovery (default: --port)')
    .option('--nodekey <file>', 'P2P node key file')
    .option('--nodekeyhex <hex>', 'P2P node key as hex')
    .option('--identity <name>', 'custom node name')
    .option('--maxpeers <n>', 'maximum number of network peers', '50')
    .option('--maxpendpeers <n>', 'maximum number of pending connection attempts (0 = default 50)', '0')
    .option('--nodial', 'do not dial out (static and dynamic)')
    .option('--staticnodes <enodes>', 'comma-separated enode URLs to keep connected')
    .option('--trustednodes <enodes>', 'comma-separated enode URLs always admitted')
    .option('--bootnodes <enodes>', 'comma-separated enode/enr bootstrap nodes for discovery')
    .option('--discovery.dns <urls>', 'comma-separated enrtree:// node lists (EIP-1459) to dial nodes from')
    .option('--netrestrict <cidrs>', 'restrict network communication to the given IP networks (CIDR masks)')
    .option('--nodiscover', 'disable peer discovery')
    .option('--nat <spec>', 'NAT port mapping: none | extip:IP | upnp | pmp[:IP] | any', 'none')
    .option('--datadir <dir>', 'data directory (node key and node database)')
    .option('--nodedb <dir>', 'node database directory (default: DATADIR/nodes, or in memory)')
    .option('--verbosity <n>', 'log level 0–5 (silent, error, warn, info, debug, trace) on stderr', '3')
    .option(
      '--ntp <host>',
      'NTP server for the clock-drift check after 32 discovery timeouts (none = off)',
      'pool.ntp.org',
    )
    .option(
      '--eth <chain>',
      `eth/72 to eth/68 over: ${ETH_CHOICES.join(' | ')} (public networks at genesis, with geth's bootnodes and DNS list)`,
      'devnet',
    )
    .option('--networkid <id>', "eth network id (default: the chain's; devnet 1337, mainnet 1)")
    .option('--metrics', 'serve Prometheus metrics on http://ADDR:PORT/debug/metrics/prometheus')
    .option('--metrics.addr <ip>', 'metrics HTTP server listening address', '127.0.0.1')
    .option(
      '--metrics.port <port>',
      'metrics HTTP server listening port (0 = any)',
      String(DEFAULT_METRICS_PORT),
    )
    .option('--http', 'serve JSON-RPC over HTTP (admin_*, net_*, web3_*, as --http.api picks)')
    .option('--http.addr <ip>', 'HTTP-RPC server listening address', '127.0.0.1')
    .option('--http.port <port>', 'HTTP-RPC server listening port (0 = any)', String(DEFAULT_RPC_PORT))
    .option(
      '--http.api <modules>',
      `API modules offered over HTTP: ${RPC_MODULES.join(', ')}`,
      DEFAULT_RPC_MODULES.join(','),
    )
    .option(
      '--http.vhosts <names>',
      'comma-separated host names accepted in the Host header (* = any)',
      'localhost',
    )
    .option('--json', 'JSON lines on stdout: a started line, then every peer event and eth peer event')
    .action(async (opts: NodeOpts) => {
      await runNode(opts)
    })
}
