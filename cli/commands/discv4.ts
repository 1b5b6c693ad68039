// `devp2p-actors discv4 ping|requestenr|resolve|lookup <enode|enr>` and `discv4 crawl`: discovery v4 tools after
// geth cmd/devp2p/discv4cmd.go (ping, requestenr, resolve, crawl) on our service (actors/discovery/service.ts).
// Results go to stdout (text, or JSON with --json; crawl always prints JSON), progress and errors to stderr;
// a failed request or bad input exits non-zero.
//
// Common options: --listen <ip> (default 0.0.0.0), --port <n> (default 0 = any), --bootnodes <list>,
// --nodekey <file> / --nodekeyhex <hex> (default: a fresh key), --timeout <duration> (per command).
// `lookup <node>` runs one iterative lookup seeded with <node> (and --bootnodes) for --target (a 64-byte public
// key in hex, default random) and prints the closest nodes found.
import { randomBytes } from 'node:crypto'
import type { Command } from 'commander'
import { createDiscv4, type Discv4 } from '../../actors/discovery/service.ts'
import { formatEnode, parseNode } from '../../codecs/enode.ts'
import { enrToText } from '../../codecs/enr.ts'
import type { Node } from '../../codecs/node.ts'
import { loadNodeKey, parsePrivateKeyHex } from '../../crypto/keys.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'
import { hex, out, printRows, toJson } from './util.ts'

/** geth cmd/devp2p crawl: default crawl duration when --timeout is not given. */
export const DEFAULT_CRAWL_TIMEOUT_MS = 30_000
/** Default deadline of one ping / requestenr / resolve / lookup command. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
/** ENR requests a crawl keeps in flight at once. */
export const CRAWL_ENR_CONCURRENCY = 16
/**
 * ENR requests per node while the crawl runs: lost datagrams (or a busy node answering after the reply deadline)
 * should not leave a node without its record — three tries a second apart were all lost once on a machine with
 * four busy processes on two cores; a node that never answers (no EIP-868) costs this many.
 */
export const CRAWL_ENR_ATTEMPTS = 5
/** How long a crawl waits before asking a node again: a busy node or network is given time, not three quick tries. */
export const CRAWL_ENR_RETRY_MS = 1_000
/** How often a crawl reports progress on stderr. */
export const CRAWL_PROGRESS_INTERVAL_MS = 1_000

interface CommonOpts {
  listen: string
  port: string
  bootnodes?: string
  nodekey?: string
  nodekeyhex?: string
  timeout?: string
  json?: boolean
}

/** geth-style durations: `500ms`, `30s`, `2m`, `1h`, `1m30s`; a bare number is seconds. */
export function parseDuration(text: string): number {
  const t = text.trim()
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let total = 0
  let rest = t
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(t))
    throw new Error(`invalid duration ${JSON.stringify(text)} (e.g. 30s, 2m)`)
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest)!
    total += Number(m[1]) * unit[m[2]!]!
    rest = rest.slice(m[0].length)
  }
  return total
}

function parsePort(text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n > 65535) throw new Error(`invalid port ${JSON.stringify(text)}`)
  return n
}

/** Comma- or whitespace-separated enode:// / enr: list (geth --bootnodes); DNS names are resolved at start. */
export function parseNodeList(text: string | undefined): Node[] {
  if (!text) return []
  return text
    .split(/[\s,]+/)
    .filter((s) => s.length > 0)
    .map((s) => parseTarget(s, true))
}

/** A node argument: enode:// URL or enr: record; it needs an IP (or, for a bootnode, a DNS name) and a UDP port. */
export function parseTarget(text: string, nameOk = false): Node {
  const n = parseNode(text.trim())
  if (n.ip === undefined && !(nameOk && n.hostname))
    throw new Error(`node ${text.slice(0, 40)}… has no IP address (hostnames are not resolved)`)
  if (!n.udp) throw new Error(`node ${text.slice(0, 40)}… has no UDP port`)
  return n
}

function privateKeyOf(o: CommonOpts): Uint8Array {
  if (o.nodekey !== undefined && o.nodekeyhex !== undefined)
    throw new Error('give at most one of --nodekey, --nodekeyhex')
  if (o.nodekeyhex !== undefined) return parsePrivateKeyHex(o.nodekeyhex)
  if (o.nodekey !== undefined) return loadNodeKey(o.nodekey)
  return generatePrivateKey()
}

/** Start a discovery service from the common options; `extraBootnodes` are added to --bootnodes. */
async function startService(o: CommonOpts, extraBootnodes: Node[] = []): Promise<Discv4> {
  const bootnodes = [...parseNodeList(o.bootnodes), ...extraBootnodes]
  const d = createDiscv4({
    privateKey: privateKeyOf(o),
    bindAddr: o.listen,
    port: parsePort(o.port),
    bootnodes,
  })
  await d.start()
  return d
}

/** Run `f` against a started service, bounded by the timeout; the service is always stopped. */
async function withService<T>(
  o: CommonOpts,
  boot: Node[],
  defaultMs: number,
  what: string,
  f: (d: Discv4) => Promise<T>,
) {
  const ms = o.timeout !== undefined ? parseDuration(o.timeout) : defaultMs
  const d = await startService(o, boot)
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    })
    return await Promise.race([f(d), deadline])
  } finally {
    clearTimeout(timer)
    await d.stop()
  }
}

function nodeJson(n: Node) {
  return {
    id: hex(n.id),
    seq: n.record ? n.record.seq : null,
    ip: n.ip ?? null,
    udp: n.udp ?? 0,
    tcp: n.tcp ?? 0,
    enode: formatEnode(n),
    record: n.record ? enrToText(n.record) : null,
  }
}

/** geth enode.Node.String(): the record text when we have a signed record, else the URL. */
function nodeText(n: Node): string {
  return n.record ? enrToText(n.record) : formatEnode(n)
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

function commonOptions(c: Command, timeoutHelp: string): Command {
  return c
    .option('--listen <ip>', 'local address to bind the UDP socket to', '0.0.0.0')
    .option('--port <n>', 'local UDP port (0: any free port)', '0')
    .option('--bootnodes <list>', 'comma-separated enode:// or enr: nodes to bootstrap from')
    .option('--nodekey <file>', 'geth nodekey file (default: a fresh key)')
    .option('--nodekeyhex <hex>', 'private key as hex')
    .option('--timeout <duration>', timeoutHelp)
}

export function register(program: Command): void {
  const discv4 = program.command('discv4').description('node discovery v4 tools (geth devp2p discv4)')

  commonOptions(
    discv4
      .command('ping')
      .description('send a PING and wait for the PONG')
      .argument('<node>', 'enode:// URL or enr:'),
    'deadline (default 60s)',
  )
    .option('--json', 'print JSON')
    .action(async (text: string, o: CommonOpts) => {
      const n = parseTarget(text)
      const r = await withService(o, [], DEFAULT_REQUEST_TIMEOUT_MS, 'ping', async (d) => {
        const t0 = performance.now()
        const pong = await d.ping(n).catch((e: unknown) => {
          throw new Error(`ping ${n.ip}:${n.udp} failed: ${errorText(e)}`)
        })
        return { rttMs: performance.now() - t0, pong }
      })
      if (o.json)
        out(
          toJson({
            id: hex(n.id),
            rttMs: Number(r.rttMs.toFixed(3)),
            seq: r.pong.enrSeq ?? null,
            to: r.pong.to,
          }),
        )
      else out(`node responded to ping (RTT ${r.rttMs.toFixed(2)}ms)`)
    })

  commonOptions(
    discv4
      .command('requestenr')
      .description('ask a node for its current record (ENRRequest) and print it')
      .argument('<node>', 'enode:// URL or enr:'),
    'deadline (default 60s)',
  )
    .option('--json', 'print JSON')
    .action(async (text: string, o: CommonOpts) => {
      const n = parseTarget(text)
      const got = await withService(o, [], DEFAULT_REQUEST_TIMEOUT_MS, 'requestenr', (d) =>
        d.requestENR(n).catch((e: unknown) => {
          throw new Error(`requestenr ${n.ip}:${n.udp} failed: ${errorText(e)}`)
        }),
      )
      if (o.json) out(toJson(nodeJson(got)))
      else {
        printRows([
          ['Node ID', hex(got.id)],
          ['Seq', got.record ? String(got.record.seq) : '(none)'],
          ['IP', got.ip ?? '(none)'],
          ['UDP', String(got.udp ?? 0)],
          ['TCP', String(got.tcp ?? 0)],
        ])
        out(nodeText(got))
      }
    })

  commonOptions(
    discv4
      .command('resolve')
      .description('find the current record of a node (ENRRequest, else a lookup through --bootnodes)')
      .argument('<node>', 'enode:// URL or enr:'),
    'deadline (default 60s)',
  )
    .option('--json', 'print JSON')
    .action(async (text: string, o: CommonOpts) => {
      const n = parseTarget(text)
      const got = await withService(o, [], DEFAULT_REQUEST_TIMEOUT_MS, 'resolve', (d) => d.resolve(n))
      if (o.json) out(toJson(nodeJson(got)))
      else out(nodeText(got))
    })

  commonOptions(
    discv4
      .command('lookup')
      .description(
        'run an iterative lookup seeded with <node> (and --bootnodes); print the closest nodes as JSON',
      )
      .argument('<node>', 'enode:// URL or enr: to start from')
      .option('--target <pubkey>', 'target public key, 128 hex characters (default: random)'),
    'deadline (default 60s)',
  ).action(async (text: string, o: CommonOpts & { target?: string }) => {
    const n = parseTarget(text)
    let target: Uint8Array
    if (o.target !== undefined) {
      const t = o.target.replace(/^0x/, '')
      if (!/^[0-9a-fA-F]{128}$/.test(t))
        throw new Error('--target must be a 64-byte public key in hex (128 characters)')
      target = new Uint8Array(Buffer.from(t, 'hex'))
    } else target = new Uint8Array(randomBytes(64))
    // lookup() bootstraps an empty table from the bootnodes first (geth LookupPubkey).
    const nodes = await withService(o, [n], DEFAULT_REQUEST_TIMEOUT_MS, 'lookup', (d) => d.lookup(target))
    out(toJson(nodes.map(nodeJson)))
  })

  commonOptions(
    discv4
      .command('crawl')
      .description(
        'walk the DHT from --bootnodes for --timeout; print every node found as JSON (progress on stderr)',
      ),
    'how long to crawl (default 30s)',
  ).action(async (o: CommonOpts) => {
    const boot = parseNodeList(o.bootnodes)
    if (boot.length === 0) throw new Error('crawl needs --bootnodes')
    const ms = o.timeout !== undefined ? parseDuration(o.timeout) : DEFAULT_CRAWL_TIMEOUT_MS
    const d = await startService({ ...o, bootnodes: undefined }, boot)
    try {
      const found = await crawl(d, boot, ms)
      const json: Record<string, ReturnType<typeof nodeJson> & { firstResponse: string | null }> = {}
      for (const [id, e] of [...found].sort(([a], [b]) => (a < b ? -1 : 1)))
        json[id] = {
          ...nodeJson(e.node),
          firstResponse: e.firstResponse ? new Date(e.firstResponse).toISOString() : null,
        }
      out(toJson(json))
    } finally {
      await d.stop()
    }
  })
}

export interface CrawlEntry {
  node: Node
  /** when the node first answered an ENRRequest (ms since epoch) */
  firstResponse?: number
  /** ENR requests sent so far */
  tries: number
}

/**
 * geth crawler, simplified: nodes come from random lookups (randomNodes) and every new one is asked for its
 * record (ENRRequest, at most CRAWL_ENR_CONCURRENCY at once; a node that does not answer is asked again `retryMs`
 * later while the crawl runs, up to CRAWL_ENR_ATTEMPTS requests); nodes that never answer are kept as seen, without
 * a record. (geth's crawler leaves out a node whose first request fails and asks it again on a later pass, minutes
 * later; a crawl here is one pass.)
 */
export async function crawl(
  d: Discv4,
  boot: Node[],
  ms: number,
  retryMs = CRAWL_ENR_RETRY_MS,
): Promise<Map<string, CrawlEntry>> {
  const found = new Map<string, CrawlEntry>()
  const queue: CrawlEntry[] = []
  const retries = new Set<ReturnType<typeof setTimeout>>()
  let inFlight = 0
  let withRecord = 0
  let stopped = false
  const pump = () => {
    while (!stopped && inFlight < CRAWL_ENR_CONCURRENCY && queue.length > 0) {
      const e = queue.shift()!
      inFlight++
      e.tries++
      d.requestENR(e.node)
        .then((n) => {
          e.node = n
          e.firstResponse ??= Date.now()
          withRecord++
        })
        .catch(() => {
          if (stopped || e.tries >= CRAWL_ENR_ATTEMPTS) return
          const t = setTimeout(() => {
            retries.delete(t)
            queue.push(e)
            pump()
          }, retryMs)
          retries.add(t)
        })
        .finally(() => {
          inFlight--
          pump()
        })
    }
  }
  const add = (n: Node) => {
    const id = hex(n.id)
    if (id === hex(d.self().id) || found.has(id)) return
    const e: CrawlEntry = { node: n, tries: 0 }
    found.set(id, e)
    queue.push(e)
    pump()
  }
  for (const b of boot) add(b)
  const t0 = Date.now()
  const progress = setInterval(() => {
    process.stderr.write(
      `crawl: ${((Date.now() - t0) / 1000).toFixed(0)}s, ${found.size} nodes seen, ${withRecord} with a record, ${d.table.len()} in table\n`,
    )
  }, CRAWL_PROGRESS_INTERVAL_MS)
  const sub = d.randomNodes().subscribe({ next: add, error: () => {} })
  // nodes that reach our table through their own pings count as found too
  const fromTable = setInterval(() => {
    for (const n of d.table.nodes()) add(n)
  }, CRAWL_PROGRESS_INTERVAL_MS / 4)
  await new Promise((r) => setTimeout(r, ms))
  stopped = true
  for (const t of retries) clearTimeout(t)
  sub.unsubscribe()
  clearInterval(progress)
  clearInterval(fromTable)
  // let the ENR requests in flight finish (each is bounded by the reply timeout)
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 20))
  process.stderr.write(`crawl: done, ${found.size} nodes seen, ${withRecord} with a record\n`)
  return found
}
