// The local node record for discovery, after geth p2p/enode/localnode.go: an ENR with ip / tcp / udp (ip6 /
// tcp6 / udp6 for IPv6) and the protocols' attributes, whose seq comes from the node DB (NodeDb.localSeq) and is
// bumped, re-signed and persisted whenever an entry changes. The endpoint follows geth's lnEndpoint precedence
// (actors/discovery/ip-tracker.ts localEndpoint): static IP (nat extip / setStaticIp) > predicted from PONG
// statements (IpTracker) > fallback (the bound address, or 127.0.0.1 when bound to the unspecified address,
// geth's SetFallbackIP).
//
// API: LocalNode.create({ privateKey, db, udp, tcp?, bindAddr?, staticIp?, attributes?, ipTracker?, now? })
//   record() / node() / seq                the current record and its Node form
//   setStaticIp(ip | undefined, udp?)      extip / NAT: pins the IP (and the external UDP port when given)
//   setAttributes(attrs)                   set (value) or remove (undefined) raw-RLP ENR entries, e.g. `eth`
//   udpContact(host) / udpEndpointStatement(host, endpoint)   feed the IP predictor (geth UDPContact /
//                                          UDPEndpointStatement); the record follows the prediction
//   onChange(listener) → unsubscribe       called with the new record after every re-sign
//   flush()                                resolves when every seq write reached the DB
import { createEnr, type Enr, type EnrInit, enrToNode } from '../../codecs/enr.ts'
import type { Node, NodeId } from '../../codecs/node.ts'
import { nodeIdOfPrivateKey } from '../../crypto/keys.ts'
import { canonicalIp, type IpEndpoint, type IpTracker, localEndpoint } from './ip-tracker.ts'
import { isUnspecified, parseAddr } from './netutil.ts'
import type { NodeDb } from './nodedb.ts'

/** geth p2p/server.go setupLocalNode: `SetFallbackIP(127.0.0.1)`. */
export const FALLBACK_IP = '127.0.0.1'

export interface LocalNodeConfig {
  privateKey: Uint8Array
  db: Pick<NodeDb, 'localSeq' | 'storeLocalSeq'>
  /** the bound UDP port (fallback UDP port of the record) */
  udp: number
  /** TCP port announced in the record (default: the UDP port) */
  tcp?: number
  /** the bound address: used as the fallback IP unless it is unspecified */
  bindAddr?: string
  staticIp?: string
  /** raw RLP values of extra ENR entries (e.g. `eth`) */
  attributes?: Readonly<Record<string, Uint8Array>>
  ipTracker?: IpTracker
}

export class LocalNode {
  readonly id: NodeId
  private cur!: Enr
  private curNode!: Node
  private curKey = ''
  private seqNow: bigint
  private staticIp: string | undefined
  private staticUdp: number | undefined
  private readonly attrs = new Map<string, Uint8Array>()
  private persist: Promise<void> = Promise.resolve()
  private readonly listeners = new Set<(r: Enr) => void>()

  private constructor(
    private readonly cfg: LocalNodeConfig,
    seq: bigint,
  ) {
    this.id = nodeIdOfPrivateKey(cfg.privateKey)
    this.seqNow = seq
    this.staticIp = cfg.staticIp
    for (const [k, v] of Object.entries(cfg.attributes ?? {})) this.attrs.set(k, v)
  }

  static async create(cfg: LocalNodeConfig): Promise<LocalNode> {
    const id = nodeIdOfPrivateKey(cfg.privateKey)
    const ln = new LocalNode(cfg, await cfg.db.localSeq(id))
    ln.update()
    await ln.flush()
    return ln
  }

  record(): Enr {
    return this.cur
  }

  node(): Node {
    return this.curNode
  }

  get seq(): bigint {
    return this.cur.seq
  }

  /** Pin the announced IP (nat extip, a NAT mapping); undefined goes back to prediction / fallback. */
  setStaticIp(ip: string | undefined, udp?: number): void {
    if (ip !== undefined && !parseAddr(ip)) throw new RangeError(`not an IP address: ${ip}`)
    this.staticIp = ip === undefined ? undefined : canonicalIp(ip)
    this.staticUdp = udp
    this.update()
  }

  setAttributes(attrs: Readonly<Record<string, Uint8Array | undefined>>): void {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined) this.attrs.delete(k)
      else this.attrs.set(k, v)
    }
    this.update()
  }

  udpContact(host: string): void {
    this.cfg.ipTracker?.addContact(host)
  }

  udpEndpointStatement(host: string, endpoint: IpEndpoint): void {
    if (!this.cfg.ipTracker) return
    this.cfg.ipTracker.addStatement(host, endpoint)
    this.update()
  }

  onChange(listener: (r: Enr) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  flush(): Promise<void> {
    return this.persist
  }

  private fallbackIp(): string {
    const b = this.cfg.bindAddr
    return b !== undefined && parseAddr(b) && !isUnspecified(b)
      ? (canonicalIp(b) ?? FALLBACK_IP)
      : FALLBACK_IP
  }

  /** Rebuild the record when any entry changed: seq + 1, sign, persist the seq (geth LocalNode.sign). */
  private update(): void {
    const ep = localEndpoint(
      { staticIp: this.staticIp, fallbackIp: this.fallbackIp(), fallbackUdp: this.staticUdp ?? this.cfg.udp },
      this.staticIp === undefined ? this.cfg.ipTracker : undefined,
    )
    const tcp = this.cfg.tcp ?? this.cfg.udp
    const init: EnrInit = { other: Object.fromEntries(this.attrs) }
    const ipBytes = parseAddr(ep.ip)
    if (ipBytes && ipBytes.length === 16) {
      init.ip6 = ep.ip
      if (ep.udp) init.udp6 = ep.udp
      if (tcp) init.tcp6 = tcp
    } else {
      if (ep.ip !== undefined) init.ip = ep.ip
      if (ep.udp) init.udp = ep.udp
      if (tcp) init.tcp = tcp
    }
    const key = JSON.stringify([
      init.ip,
      init.ip6,
      init.udp,
      init.udp6,
      init.tcp,
      init.tcp6,
      [...this.attrs.entries()].map(([k, v]) => [k, Buffer.from(v).toString('hex')]).sort(),
    ])
    if (key === this.curKey) return
    this.curKey = key
    this.seqNow += 1n
    const seq = this.seqNow
    this.cur = createEnr(this.cfg.privateKey, { ...init, seq })
    this.curNode = enrToNode(this.cur)
    this.persist = this.persist
      .then(() => this.cfg.db.storeLocalSeq(this.id, seq))
      .catch(() => {
        // a closed DB at shutdown: the next start bumps from the stored value again
      })
    for (const l of this.listeners) l(this.cur)
  }
}
