// External endpoint prediction, after geth p2p/netutil/iptrack.go (IPTracker) and the way p2p/enode/localnode.go
// uses it (iptrackMinStatements 10, iptrackWindow 5 min, iptrackContactWindow 10 min, lnEndpoint.get precedence:
// static IP > predicted endpoint > fallback). Pure: the clock is injected (ms, monotonic), no timers.
//
// API
//   new IpTracker({ window, contactWindow, minStatements, now })
//     addStatement(host, endpoint)  a remote (host) told us our endpoint (discv4: the `to` of its PONG)
//     addContact(host)              we sent our endpoint to host (discv4: every PING we send)
//     predictEndpoint()             the endpoint with the most statements (≥ minStatements), or undefined
//     predictFullConeNat()          true when a statement came from a host we had not contacted before it
//   localEndpoint(sources, tracker) the IP/UDP port for the local record, as geth's lnEndpoint.get
// Geth keeps one tracker per address family (LocalNode endpoint4 / endpoint6); do the same with two instances.
import { formatIp } from '../../codecs/enr.ts'
import { parseAddr } from './netutil.ts'

/** geth localnode.go `iptrackMinStatements`. */
export const IPTRACK_MIN_STATEMENTS = 10
/** geth localnode.go `iptrackWindow`: statements older than this are forgotten. */
export const IPTRACK_WINDOW_MS = 5 * 60_000
/** geth localnode.go `iptrackContactWindow`: contacts older than this are forgotten. */
export const IPTRACK_CONTACT_WINDOW_MS = 10 * 60_000

/** An IP endpoint (geth netip.AddrPort); `ip` in Go's canonical text form. */
export interface IpEndpoint {
  ip: string
  port: number
}

export interface IpTrackerOptions {
  windowMs?: number
  contactWindowMs?: number
  minStatements?: number
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number
}

interface Statement {
  endpoint: IpEndpoint
  key: string
  time: number
}

/** Canonical text of an IP (IPv4-mapped IPv6 unmapped, as netip.Addr.Unmap); undefined when not an IP. */
export function canonicalIp(ip: string): string | undefined {
  const b = parseAddr(ip)
  return b ? formatIp(b) : undefined
}

function endpointKey(e: IpEndpoint): string {
  return `${e.ip}|${e.port}`
}

/** geth netutil.IPTracker. Hosts and endpoints that are not IP literals are ignored. */
export class IpTracker {
  readonly windowMs: number
  readonly contactWindowMs: number
  readonly minStatements: number
  private readonly now: () => number
  private readonly statements = new Map<string, Statement>()
  private readonly contacts = new Map<string, number>()
  private lastStatementGc = Number.NEGATIVE_INFINITY
  private lastContactGc = Number.NEGATIVE_INFINITY

  constructor(opts: IpTrackerOptions = {}) {
    this.windowMs = opts.windowMs ?? IPTRACK_WINDOW_MS
    this.contactWindowMs = opts.contactWindowMs ?? IPTRACK_CONTACT_WINDOW_MS
    this.minStatements = opts.minStatements ?? IPTRACK_MIN_STATEMENTS
    this.now = opts.now ?? (() => performance.now())
  }

  /** Number of statements and contacts currently held (after the last collection). */
  get size(): { statements: number; contacts: number } {
    return { statements: this.statements.size, contacts: this.contacts.size }
  }

  /** Record that `host` thinks our external endpoint is `endpoint` (one statement per host: the newest). */
  addStatement(host: string, endpoint: IpEndpoint): void {
    const h = canonicalIp(host)
    const ip = canonicalIp(endpoint.ip)
    if (h === undefined || ip === undefined) return
    const now = this.now()
    const e = { ip, port: endpoint.port }
    // A newer statement from the same host replaces the old one at the end of the insertion order.
    this.statements.delete(h)
    this.statements.set(h, { endpoint: e, key: endpointKey(e), time: now })
    if (now - this.lastStatementGc >= this.windowMs) this.gcStatements(now)
  }

  /** Record that a packet carrying our endpoint was sent to `host`. */
  addContact(host: string): void {
    const h = canonicalIp(host)
    if (h === undefined) return
    const now = this.now()
    this.contacts.set(h, now)
    if (now - this.lastContactGc >= this.contactWindowMs) this.gcContacts(now)
  }

  /**
   * The endpoint most hosts agree on, if at least `minStatements` of them do (geth PredictEndpoint). Ties go
   * to the endpoint whose count reached the maximum first in statement order (geth: map order, i.e. random).
   */
  predictEndpoint(): IpEndpoint | undefined {
    this.gcStatements(this.now())
    const counts = new Map<string, number>()
    let max = 0
    let best: IpEndpoint | undefined
    for (const s of this.statements.values()) {
      const c = (counts.get(s.key) ?? 0) + 1
      counts.set(s.key, c)
      if (c > max && c >= this.minStatements) {
        max = c
        best = s.endpoint
      }
    }
    return best ? { ...best } : undefined
  }

  /**
   * Whether we are behind a full-cone NAT (or no NAT): some statement came from a host we had not contacted,
   * or had contacted only after its statement (geth PredictFullConeNAT).
   */
  predictFullConeNat(): boolean {
    const now = this.now()
    this.gcContacts(now)
    this.gcStatements(now)
    for (const [host, st] of this.statements) {
      const c = this.contacts.get(host)
      if (c === undefined || c > st.time) return true
    }
    return false
  }

  private gcStatements(now: number): void {
    this.lastStatementGc = now
    const cutoff = now - this.windowMs
    for (const [host, s] of this.statements) if (s.time < cutoff) this.statements.delete(host)
  }

  private gcContacts(now: number): void {
    this.lastContactGc = now
    const cutoff = now - this.contactWindowMs
    for (const [host, t] of this.contacts) if (t < cutoff) this.contacts.delete(host)
  }
}

/** What the local record's endpoint is built from (geth lnEndpoint). */
export interface EndpointSources {
  /** Set by `nat extip:` or an explicit listen IP: disables prediction for the IP. */
  staticIp?: string
  /** Last-resort IP (e.g. the listen address when it is not unspecified). */
  fallbackIp?: string
  /** Last-resort UDP port (the bound port, or the NAT-mapped external port). */
  fallbackUdp?: number
}

/**
 * geth lnEndpoint.get: static IP wins for the IP (the port stays the fallback); otherwise a prediction wins for
 * both IP and port; otherwise the fallbacks.
 */
export function localEndpoint(src: EndpointSources, tracker?: IpTracker): { ip?: string; udp?: number } {
  let ip = src.fallbackIp
  let udp = src.fallbackUdp
  if (src.staticIp !== undefined) ip = src.staticIp
  else {
    const p = tracker?.predictEndpoint()
    if (p) {
      ip = p.ip
      udp = p.port
    }
  }
  const out: { ip?: string; udp?: number } = {}
  if (ip !== undefined) out.ip = ip
  if (udp !== undefined && udp !== 0) out.udp = udp
  return out
}
