// `devp2p-actors node`: run a p2p node (actors/server.ts createServer) with geth's flag names, offering the
// built-in `devp2p-actors/1` protocol (actors/builtin-protocol.ts) until the eth layer lands. Ctrl-C / SIGTERM
// stop it cleanly (DiscQuitting to every peer, sockets and DB closed, exit 0).
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
// PeerEvent ({"type":"add","peer":id,…}, {"type":"drop","peer":id,"error":…}); without, readable lines
// (started, peer added / dropped, and the peer count every 30 s while it changed).
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import pino from 'pino'
import { createBuiltinProtocol } from '../../actors/builtin-protocol.ts'
import { createClockCheck } from '../../actors/discovery/ntp.ts'
import { dnsDialCandidates } from '../../actors/dnsdisc.ts'
import { createServer, type ServerConfig } from '../../actors/server.ts'
import { formatEnode } from '../../codecs/enode.ts'
import { loadNodeKey, parsePrivateKeyHex, saveNodeKey } from '../../crypto/keys.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'
import { out, stopSignal } from './util.ts'

/** geth's default --port. */
export const DEFAULT_PORT = 30303
/** How often the readable output reports the peer count (geth logs "Looking for peers" on a similar cadence). */
export const STATUS_INTERVAL_MS = 30_000
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

/** Build the server config from the flags (exported for tests). */
export function nodeConfig(opts: NodeOpts): ServerConfig {
  const port = intFlag('--port', opts.port, 65535)
  const verbosity = intFlag('--verbosity', opts.verbosity, 5)
  const host = opts.addr.includes(':') ? `[${opts.addr}]` : opts.addr
  const discPort = opts['discovery.port']
  // geth: an empty --discovery.dns turns the lists off; bad URLs fail here (DNS_BAD_URL)
  const dnsUrls = list(opts['discovery.dns'])
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
    bootstrapNodes: list(opts.bootnodes),
    netRestrict: opts.netrestrict !== undefined ? list(opts.netrestrict) : undefined,
    nat: opts.nat,
    nodeDatabase,
    protocols: [createBuiltinProtocol()],
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
  const config = nodeConfig(opts)
  // geth checks the clock against NTP after 32 consecutive discovery timeouts (p2p/discover/ntp.go)
  const clockCheck =
    opts.ntp !== 'none' && !config.noDiscovery
      ? createClockCheck({ server: opts.ntp, logger: config.logger as pino.Logger })
      : undefined
  if (clockCheck) config.discovery = { ...config.discovery, clockCheck }
  const srv = createServer(config)
  let peers = 0
  let reported = -1
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
  // handlers first: a signal that comes while starting (or right after the first line) still stops cleanly
  const signal = stopSignal()
  try {
    await srv.start()
  } catch (e) {
    signal.cancel()
    throw e
  }
  const info = srv.nodeInfo()
  if (opts.json) out(JSON.stringify({ event: 'started', enode: info.enode, enr: info.enr, id: info.id }))
  else {
    out(`started       ${formatEnode(srv.self())}`)
    const udp = config.noDiscovery ? ' (discovery off)' : `, discovery udp ${info.ports.discovery}`
    out(`listening on  ${info.listenAddr}${udp}`)
  }
  for (const line of held) out(line)
  held = undefined
  const status = setInterval(() => {
    if (opts.json || peers === reported) return
    reported = peers
    out(`peers         ${peers}`)
  }, STATUS_INTERVAL_MS)
  await signal.signalled
  clearInterval(status)
  await srv.stop()
  clockCheck?.close()
  if (!opts.json) out('stopped')
}

export function register(program: Command): void {
  program
    .command('node')
    .description('run a devp2p node (RLPx server, discovery v4, the built-in devp2p-actors/1 protocol)')
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
    .option('--json', 'JSON lines on stdout: a started line, then every peer event')
    .action(async (opts: NodeOpts) => {
      await runNode(opts)
    })
}
