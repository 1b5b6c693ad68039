// The server's node-level network setup (geth p2p/server.go setupLocalNode, setupDiscovery,
// setupUDPListening, setupPortMapping): the node DB, the local node record (through discovery when it runs, on
// its own otherwise), discovery v4 bound on the TCP host and port unless told otherwise, and the NAT port
// mapping loop. The TCP listener and the peers stay in actors/server.ts.
//
// API: setupNetwork(opts) → Promise<ServerNetwork { db, localNode, discovery?, close() }>; on a failure
// everything opened so far is closed before the error is rethrown. close() stops discovery, the port mapping,
// flushes the local record and closes the DB.
import { formatIp } from '../codecs/enr.ts'
import type { Node } from '../codecs/node.ts'
import type { NetRestrict } from '../machines/dial-scheduler.ts'
import { LocalNode } from './discovery/local-node.ts'
import { isLan, isLoopback } from './discovery/netutil.ts'
import { NodeDb } from './discovery/nodedb.ts'
import { createDiscv4, type Discv4, type Discv4Config } from './discovery/service.ts'
import { createNat, type Nat, type PortMappingHandle, startPortMapping } from './nat.ts'

export interface NetworkLogger {
  debug(msg: string): void
  info(msg: string): void
  warn(msg: string): void
}

export interface NetworkOptions {
  privateKey: Uint8Array
  /** the TCP listen host and bound port (0 when not listening) */
  host: string
  tcpPort: number
  noDiscovery?: boolean
  /** UDP bind address for discovery (default host:tcpPort) */
  discAddr?: { host: string; port: number }
  nat?: string | Nat
  /** node DB directory; in memory when absent or '' */
  nodeDatabase?: string
  bootnodes?: Array<Node | string>
  netRestrict?: NetRestrict | null
  /** ENR entries of the protocols */
  attributes?: Readonly<Record<string, Uint8Array>>
  discovery?: Partial<Discv4Config>
  log: NetworkLogger
}

export interface ServerNetwork {
  db: NodeDb
  localNode: LocalNode
  discovery?: Discv4
  close(): Promise<void>
}

/** `extip:IP` of a NAT spec, else undefined. */
const extIpOf = (nat: string | Nat | undefined): string | undefined =>
  typeof nat === 'string' && nat.toLowerCase().startsWith('extip:') ? nat.slice(6) : undefined

export async function setupNetwork(o: NetworkOptions): Promise<ServerNetwork> {
  const db = await NodeDb.open({ path: o.nodeDatabase || undefined })
  let discovery: Discv4 | undefined
  let portMapping: PortMappingHandle | undefined
  let localNode: LocalNode | undefined
  const close = async () => {
    await discovery?.stop().catch(() => {})
    await portMapping?.stop().catch(() => {})
    await localNode?.flush()
    await db.close().catch(() => {})
  }
  try {
    let udpPort: number | undefined
    if (!o.noDiscovery) {
      const da = o.discAddr ?? { host: o.host, port: o.tcpPort }
      const ext = extIpOf(o.nat)
      const nr = o.netRestrict
      discovery = createDiscv4({
        ...o.discovery,
        privateKey: o.privateKey,
        bindAddr: da.host,
        port: da.port,
        tcpPort: o.tcpPort,
        db,
        bootnodes: o.bootnodes ?? [],
        netRestrict: nr
          ? { contains: (ip) => nr.contains(typeof ip === 'object' ? formatIp(ip) : ip) }
          : null,
        ...(ext ? { externalIp: ext } : {}),
        enrAttributes: o.attributes,
        logger: { debug: (m) => o.log.debug(m), warn: (m) => o.log.warn(m) },
      })
      await discovery.start()
      localNode = discovery.localNode
      udpPort = discovery.address().port
    } else {
      // geth keeps a local node without discovery too: record with ip (fallback 127.0.0.1) and tcp only
      localNode = await LocalNode.create({
        privateKey: o.privateKey,
        db,
        udp: 0,
        tcp: o.tcpPort,
        bindAddr: o.host,
        staticIp: extIpOf(o.nat),
        attributes: o.attributes,
      })
    }
    const nat = typeof o.nat === 'string' ? createNat(o.nat) : o.nat
    if (nat) {
      const ln = localNode
      const mappings: { protocol: 'TCP' | 'UDP'; port: number; name: string }[] = []
      // geth setupListening / setupUDPListening: only public addresses are mapped
      if (!isLoopback(o.host) && !isLan(o.host)) {
        if (o.tcpPort) mappings.push({ protocol: 'TCP', port: o.tcpPort, name: 'ethereum p2p' })
        if (udpPort) mappings.push({ protocol: 'UDP', port: udpPort, name: 'ethereum peer discovery' })
      }
      portMapping = startPortMapping({
        nat,
        mappings,
        onExternalIp: (ip) => {
          try {
            ln.setStaticIp(ip)
          } catch {}
        },
        logger: { debug: (m) => o.log.debug(m), info: (m) => o.log.info(m) },
      })
    }
    return { db, localNode, discovery, close }
  } catch (e) {
    await close()
    throw e
  }
}
