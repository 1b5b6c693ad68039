// IP helpers for discovery, after geth p2p/netutil/net.go: address parsing, LAN / loopback / special-network
// classification, relay-address rules (CheckRelayAddr), subnet keys and DistinctNetSet (at most N addresses
// per subnet, used for the table's IP limits). IPv4-mapped IPv6 addresses are treated as IPv4 throughout;
// text ⇄ bytes follows Go's net.ParseIP / IP.String (codecs/enr parseIp / formatIp).
import { formatIp, parseIp } from '../../codecs/enr.ts'

/**
 * Parse an IP address with Go's net.ParseIP rules (codecs/enr parseIp): 4 bytes for IPv4 and IPv4-mapped
 * IPv6 (unmapped, as geth's netip.Addr.Unmap), 16 bytes for IPv6; undefined when not an IP literal.
 */
export function parseAddr(ip: string | undefined): Uint8Array | undefined {
  if (ip === undefined) return undefined
  const b = parseIp(ip)
  if (!b) return undefined
  if (b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)
    return b.slice(12)
  return b
}

/** The 16-byte form of an address (IPv4 as ::ffff:a.b.c.d), as geth's `netip.Addr.As16`. */
export function ipTo16(ip: Uint8Array): Uint8Array {
  if (ip.length === 16) return ip
  const out = new Uint8Array(16)
  out[10] = 0xff
  out[11] = 0xff
  out.set(ip, 12)
  return out
}

/** A CIDR prefix list (geth `netutil.Netlist`). */
export class Netlist {
  private readonly prefixes: Array<{ net: Uint8Array; bits: number }> = []
  constructor(cidrs: Iterable<string> = []) {
    for (const c of cidrs) this.add(c)
  }
  /** Add a CIDR mask such as 10.0.0.0/8; throws on a malformed mask. */
  add(cidr: string): void {
    const [addr, bitsText] = cidr.split('/')
    const net = parseAddr(addr)
    const bits = bitsText === undefined ? (net?.length ?? 0) * 8 : Number(bitsText)
    if (!net || !Number.isInteger(bits) || bits < 0 || bits > net.length * 8)
      throw new RangeError(`invalid CIDR ${cidr}`)
    this.prefixes.push({ net, bits })
  }
  contains(ip: string | Uint8Array | undefined): boolean {
    const b = typeof ip === 'string' || ip === undefined ? parseAddr(ip) : ip
    if (!b) return false
    return this.prefixes.some((p) => p.net.length === b.length && samePrefix(p.net, b, p.bits))
  }
}

function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false
  const rem = bits & 7
  if (rem === 0) return true
  const mask = (0xff << (8 - rem)) & 0xff
  return (a[whole]! & mask) === (b[whole]! & mask)
}

// RFC 5735, RFC 5156 and the IANA special-purpose registries, as listed in geth's netutil.
const special4 = new Netlist([
  '0.0.0.0/8',
  '192.0.0.0/29',
  '192.0.0.9/32',
  '192.0.0.170/32',
  '192.0.0.171/32',
  '192.0.2.0/24',
  '192.31.196.0/24',
  '192.52.193.0/24',
  '192.88.99.0/24',
  '192.175.48.0/24',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '255.255.255.255/32',
])
const special6 = new Netlist([
  '100::/64',
  '2001::/32',
  '2001:1::1/128',
  '2001:2::/48',
  '2001:3::/32',
  '2001:4:112::/48',
  '2001:5::/32',
  '2001:10::/28',
  '2001:20::/28',
  '2001:db8::/32',
  '2002::/16',
])
const loopback = new Netlist(['127.0.0.0/8', '::1/128'])
const privateNets = new Netlist(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'])
const linkLocal = new Netlist(['169.254.0.0/16', 'fe80::/10'])
const multicast = new Netlist(['224.0.0.0/4', 'ff00::/8'])

function bytesOf(ip: string | Uint8Array | undefined): Uint8Array | undefined {
  return typeof ip === 'string' || ip === undefined ? parseAddr(ip) : ip
}

export function isLoopback(ip: string | Uint8Array | undefined): boolean {
  return loopback.contains(bytesOf(ip))
}

export function isUnspecified(ip: string | Uint8Array | undefined): boolean {
  const b = bytesOf(ip)
  return b?.every((x) => x === 0) === true
}

/** geth `AddrIsLAN`: loopback, private (RFC 1918 / fc00::/7) or link-local unicast. */
export function isLan(ip: string | Uint8Array | undefined): boolean {
  const b = bytesOf(ip)
  return loopback.contains(b) || privateNets.contains(b) || linkLocal.contains(b)
}

/** geth `AddrIsSpecialNetwork`: multicast, broadcast, documentation and other special-use ranges. */
export function isSpecialNetwork(ip: string | Uint8Array | undefined): boolean {
  const b = bytesOf(ip)
  if (!b) return false
  if (multicast.contains(b)) return true
  return b.length === 4 ? special4.contains(b) : special6.contains(b)
}

export type RelayRejection =
  | 'INVALID_IP'
  | 'UNSPECIFIED'
  | 'SPECIAL_NETWORK'
  | 'LOOPBACK_FROM_WAN'
  | 'LAN_FROM_WAN'

/**
 * geth `CheckRelayAddr`: may `addr`, relayed to us by `sender` (e.g. in Neighbors), be used as a connection
 * target? Special networks never; loopback only from a loopback sender; LAN only from a LAN sender.
 * Returns null when acceptable.
 */
export function checkRelayAddr(
  sender: string | Uint8Array,
  addr: string | Uint8Array,
): RelayRejection | null {
  const a = bytesOf(addr)
  if (!a) return 'INVALID_IP'
  if (isUnspecified(a)) return 'UNSPECIFIED'
  if (isSpecialNetwork(a)) return 'SPECIAL_NETWORK'
  if (isLoopback(a) && !isLoopback(sender)) return 'LOOPBACK_FROM_WAN'
  if (isLan(a) && !isLan(sender)) return 'LAN_FROM_WAN'
  return null
}

/** A key naming the `bits`-long prefix of `ip` ("1.2.3.0/24"); undefined for an invalid address. */
export function subnetKey(ip: string | Uint8Array | undefined, bits: number): string | undefined {
  const b = bytesOf(ip)
  if (!b) return undefined
  const masked = new Uint8Array(b.length)
  const n = Math.min(bits, b.length * 8)
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, n - i * 8))
    masked[i] = b[i]! & ((0xff << (8 - keep)) & 0xff)
  }
  return `${formatIp(masked)}/${n}`
}

/** geth `DistinctNetSet`: tracks addresses so that at most `limit` fall into the same `/subnet`. */
export class DistinctNetSet {
  private readonly members = new Map<string, number>()
  constructor(
    readonly subnet: number,
    readonly limit: number,
  ) {}

  /** Add ip; false (and nothing added) when its subnet is at the limit or the address is invalid. */
  add(ip: string | Uint8Array | undefined): boolean {
    const key = subnetKey(ip, this.subnet)
    if (key === undefined) return false
    const n = this.members.get(key) ?? 0
    if (n >= this.limit) return false
    this.members.set(key, n + 1)
    return true
  }

  remove(ip: string | Uint8Array | undefined): void {
    const key = subnetKey(ip, this.subnet)
    if (key === undefined) return
    const n = this.members.get(key)
    if (n === undefined) return
    if (n <= 1) this.members.delete(key)
    else this.members.set(key, n - 1)
  }

  /** Whether any address of ip's subnet is in the set. */
  contains(ip: string | Uint8Array | undefined): boolean {
    const key = subnetKey(ip, this.subnet)
    return key !== undefined && this.members.has(key)
  }

  /** Number of tracked addresses. */
  len(): number {
    let n = 0
    for (const v of this.members.values()) n += v
    return n
  }

  toString(): string {
    const keys = [...this.members.keys()].sort()
    return `{${keys.map((k) => `${k}×${this.members.get(k)}`).join(' ')}}`
  }
}
