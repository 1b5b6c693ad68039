// Helpers for the server integration tests (tests/integration/server-*.test.ts): start several servers on
// 127.0.0.1 with ephemeral ports and the built-in protocol, poll until a condition holds, read prom-client
// values, count resources (sockets, servers, UDP sockets, timers) for leak checks; a server running only eth
// protocols, with its eth peer set's events recorded.
import { Registry } from 'prom-client'
import { type BuiltinProtocol, createBuiltinProtocol } from '../../actors/builtin-protocol.ts'
import type { EthPeerSetEvent, EthProtocols } from '../../actors/eth.ts'
import { createServer, type Server, type ServerConfig } from '../../actors/server.ts'
import type { PeerEvent } from '../../actors/server-info.ts'
import { formatEnode } from '../../codecs/enode.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'

export interface TestNode {
  srv: Server
  proto: BuiltinProtocol
  registry: Registry
  key: Uint8Array
  events: PeerEvent[]
  enode(): string
  id(): string
}

/** Create (not start) a server with the built-in protocol, no discovery and a fresh registry. */
export function makeNode(cfg: Partial<ServerConfig> = {}): TestNode {
  const proto = createBuiltinProtocol()
  const registry = new Registry()
  const key = cfg.privateKey ?? generatePrivateKey()
  const srv = createServer({
    privateKey: key,
    listenAddr: '127.0.0.1:0',
    noDiscovery: true,
    protocols: [proto],
    metrics: registry,
    ...cfg,
  })
  const events: PeerEvent[] = []
  srv.events$.subscribe((e) => events.push(e))
  return {
    srv,
    proto,
    registry,
    key,
    events,
    enode: () => formatEnode(srv.self()),
    id: () => srv.nodeInfo().id,
  }
}

/** Create (not start) a server offering only `eth`'s protocols; `seen` records its eth peer set's events. */
export function makeEthNode(eth: EthProtocols): {
  node: TestNode
  eth: EthProtocols
  seen: EthPeerSetEvent[]
} {
  const node = makeNode({ protocols: eth.protocols })
  const seen: EthPeerSetEvent[] = []
  eth.peerEvents$.subscribe((e) => seen.push(e))
  return { node, eth, seen }
}

export async function startNodes(n: number, cfg: Partial<ServerConfig> = {}): Promise<TestNode[]> {
  const nodes = Array.from({ length: n }, () => makeNode(cfg))
  await Promise.all(nodes.map((x) => x.srv.start()))
  return nodes
}

export async function stopAll(nodes: readonly TestNode[]): Promise<void> {
  await Promise.all(nodes.map((x) => x.srv.stop()))
}

/** Poll (every 10 ms) until `pred` holds; throws with `what` after `ms`. */
export async function waitUntil(pred: () => boolean, ms: number, what = 'condition'): Promise<void> {
  const until = Date.now() + ms
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise<void>((r) => setTimeout(r, 10))
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The value of a counter / gauge without labels. */
export async function metric(registry: Registry, name: string): Promise<number> {
  const m = registry.getSingleMetric(name)
  if (!m) throw new Error(`no metric ${name}`)
  const v = await m.get()
  return v.values.reduce((s, x) => s + x.value, 0)
}

/** ids (hex) of the connected peers of a server */
export const peerIds = (n: TestNode): string[] => n.srv.peers().map((p) => Buffer.from(p.id).toString('hex'))

const TRACKED = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPWRAP', 'UDPWRAP', 'Timeout'])

export function resources(): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) if (TRACKED.has(r)) out[r] = (out[r] ?? 0) + 1
  return out
}

/** Wait (polling with setImmediate, so no timer of ours counts) until no tracked kind exceeds `baseline`. */
export async function assertNoLeaks(baseline: Record<string, number>, ms = 2000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    const now = resources()
    const extra = Object.entries(now).filter(([k, v]) => v > (baseline[k] ?? 0))
    if (extra.length === 0) return
    if (Date.now() > until)
      throw new Error(
        `leaked handles: ${extra.map(([k, v]) => `${k} ${v} > ${baseline[k] ?? 0}`).join(', ')}`,
      )
    await new Promise<void>((r) => setImmediate(r))
  }
}
