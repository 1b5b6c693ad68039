// NAT traversal, after geth p2p/nat (nat.go Parse / ExtIP / Any / autodisc, natupnp.go, natpmp.go) and the port
// mapping loop of p2p/server_nat.go (portMappingLoop). UPnP and NAT-PMP go through @achingbrain/nat-port-mapper
// (its own auto-refresh is switched off: the loop below refreshes as geth does).
//
// API
//   parseNat(spec)        'none' | 'extip:IP' | 'upnp' | 'pmp[:GW]' | 'any' (geth aliases too) → NatSpec; NatError
//   createNat(spec, opts) NatSpec/string → Nat | undefined (none); UPnP/PMP discovery is lazy (geth autodisc):
//                         nothing touches the network until a method is called
//   extIp(ip)             the fixed-IP Nat (mappings are no-ops, as geth ExtIP)
//   startPortMapping({ nat, mappings, onExternalIp, onMapped, logger, timers })
//                         geth portMappingLoop: external IP polled every 2 min, each mapping added with a 10 min
//                         lifetime and refreshed every 8 min, retried after 5 min on failure, deleted and
//                         re-added after 5 failed refreshes; timers are unref'd; stop() deletes the mappings.
// geth until mid-2020 (nat.Map) asked for a 20 min lifetime refreshed every 15 min; since v1.12.1 the loop in
// server_nat.go uses the constants below (10 min lifetime, refresh every 8 min). Both are options here.
import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { formatIp } from '../codecs/enr.ts'
import { isLan, parseAddr } from './discovery/netutil.ts'

/** geth server_nat.go `portMapDuration`: lifetime requested for each mapping. */
export const PORT_MAP_DURATION_MS = 10 * 60_000
/** geth server_nat.go `portMapRefreshInterval`. */
export const PORT_MAP_REFRESH_INTERVAL_MS = 8 * 60_000
/** geth server_nat.go `portMapRetryInterval`: next attempt after a failed add/refresh. */
export const PORT_MAP_RETRY_INTERVAL_MS = 5 * 60_000
/** geth server_nat.go `extipRetryInterval`: how often the gateway's external IP is polled. */
export const EXTIP_RETRY_INTERVAL_MS = 2 * 60_000
/** geth server_nat.go `maxRetries`: failed refreshes before the mapping is deleted and re-added. */
export const PORT_MAP_MAX_RETRIES = 5
/** geth natpmp.go discoverPMP: responses after this are ignored. */
export const PMP_DISCOVERY_TIMEOUT_MS = 1_000
/** How long an SSDP search for a UPnP gateway may take (geth goupnp: about 3 s per search). */
export const UPNP_DISCOVERY_TIMEOUT_MS = 5_000

export type NatErrorCode = 'INVALID_IP' | 'MISSING_IP' | 'UNKNOWN_MECHANISM' | 'NO_GATEWAY' | 'UNAVAILABLE'

/** The one error class of the NAT layer. */
export class NatError extends Error {
  readonly code: NatErrorCode
  constructor(code: NatErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'NatError'
    this.code = code
  }
}

export type NatSpec =
  | { mechanism: 'none' }
  | { mechanism: 'extip'; ip: string }
  | { mechanism: 'upnp' }
  | { mechanism: 'pmp'; gateway?: string }
  | { mechanism: 'any' }

export type NatProtocol = 'TCP' | 'UDP'

/** geth nat.Interface. */
export interface Nat {
  readonly mechanism: Exclude<NatSpec['mechanism'], 'none'>
  /** Map extPort (0: same as intPort) to intPort for lifetimeMs; resolves to the external port granted. */
  addMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    name: string,
    lifetimeMs: number,
  ): Promise<number>
  deleteMapping(protocol: NatProtocol, extPort: number, intPort: number): Promise<void>
  /** The gateway's Internet-facing address. */
  externalIp(): Promise<string>
  /** geth String(): 'ExtIP(1.2.3.4)', 'UPnP', 'NAT-PMP(192.168.1.1)', or the mechanism while undiscovered. */
  toString(): string
  /** Release library resources (sockets) without deleting mappings (the mapping loop deletes them). */
  close(): Promise<void>
}

/**
 * geth nat.Parse: the mechanism before the first ':' is case-insensitive; text after it must be an IP.
 * '' / none / off → none; any / auto / on; extip / ip (IP required); upnp; pmp / natpmp / nat-pmp (optional IP).
 * geth's `stun` is not offered here.
 */
export function parseNat(spec: string): NatSpec {
  const colon = spec.indexOf(':')
  const before = colon < 0 ? spec : spec.slice(0, colon)
  const after = colon < 0 ? undefined : spec.slice(colon + 1)
  const mech = before.toLowerCase()
  let ip: string | undefined
  if (after !== undefined) {
    const b = parseAddr(after)
    if (!b) throw new NatError('INVALID_IP', `invalid IP address ${JSON.stringify(after)} in nat spec`)
    ip = formatIp(b)
  }
  switch (mech) {
    case '':
    case 'none':
    case 'off':
      return { mechanism: 'none' }
    case 'any':
    case 'auto':
    case 'on':
      return { mechanism: 'any' }
    case 'extip':
    case 'ip':
      if (ip === undefined) throw new NatError('MISSING_IP', 'missing IP address in nat spec (extip:<IP>)')
      return { mechanism: 'extip', ip }
    case 'upnp':
      return { mechanism: 'upnp' }
    case 'pmp':
    case 'natpmp':
    case 'nat-pmp':
      return ip === undefined ? { mechanism: 'pmp' } : { mechanism: 'pmp', gateway: ip }
    default:
      throw new NatError(
        'UNKNOWN_MECHANISM',
        `unknown nat mechanism ${JSON.stringify(before)} (want none, extip:<IP>, upnp, pmp[:<gateway>] or any)`,
      )
  }
}

/** The text form of a spec (geth MarshalText), accepted back by parseNat. */
export function formatNatSpec(spec: NatSpec): string {
  switch (spec.mechanism) {
    case 'extip':
      return `extip:${spec.ip}`
    case 'pmp':
      return spec.gateway ? `pmp:${spec.gateway}` : 'pmp'
    default:
      return spec.mechanism
  }
}

/** geth nat.ExtIP: the machine is reachable on `ip`; ports were mapped by hand, so mapping does nothing. */
export function extIp(ip: string): Nat {
  const b = parseAddr(ip)
  if (!b) throw new NatError('INVALID_IP', `invalid IP address ${JSON.stringify(ip)}`)
  const text = formatIp(b)
  return {
    mechanism: 'extip',
    addMapping: async (_p, extPort, intPort) => extPort || intPort,
    deleteMapping: async () => {},
    externalIp: async () => text,
    toString: () => `ExtIP(${text})`,
    close: async () => {},
  }
}

/** A discovered gateway, as the library (or a test double) provides it. */
export interface NatGateway {
  readonly label: string
  map(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    name: string,
    lifetimeMs: number,
  ): Promise<number>
  unmap(protocol: NatProtocol, extPort: number, intPort: number): Promise<void>
  externalIp(): Promise<string>
  stop(): Promise<void>
}

/** How UPnP / PMP gateways are found; replaced in tests so that no packet leaves the machine. */
export interface NatDiscovery {
  upnp(): Promise<NatGateway | undefined>
  pmp(gateway?: string): Promise<NatGateway | undefined>
}

export interface CreateNatOptions {
  discovery?: NatDiscovery
}

/** geth autodisc: a Nat whose gateway is discovered on first use; a failed discovery fails every call. */
function autodisc(
  mechanism: 'upnp' | 'pmp' | 'any',
  what: string,
  find: () => Promise<NatGateway | undefined>,
): Nat {
  let found: Promise<NatGateway | undefined> | undefined
  let gw: NatGateway | undefined
  const wait = async (): Promise<NatGateway> => {
    found ??= find().then(
      (g) => (gw = g),
      () => undefined,
    )
    const g = await found
    if (!g) throw new NatError('NO_GATEWAY', `no ${what} router discovered`)
    return g
  }
  return {
    mechanism,
    addMapping: async (p, ext, int, name, life) => (await wait()).map(p, ext || int, int, name, life),
    deleteMapping: async (p, ext, int) => (await wait()).unmap(p, ext, int),
    externalIp: async () => (await wait()).externalIp(),
    toString: () => gw?.label ?? what,
    close: async () => {
      const g = found ? await found : undefined
      await g?.stop().catch(() => {})
    },
  }
}

/** Turn a spec into a Nat; undefined for none. UPnP/PMP are looked for only when first used. */
export function createNat(spec: string | NatSpec, opts: CreateNatOptions = {}): Nat | undefined {
  const s = typeof spec === 'string' ? parseNat(spec) : spec
  const disc = opts.discovery ?? libraryDiscovery
  switch (s.mechanism) {
    case 'none':
      return undefined
    case 'extip':
      return extIp(s.ip)
    case 'upnp':
      return autodisc('upnp', 'upnp', () => disc.upnp())
    case 'pmp':
      return autodisc('pmp', s.gateway ? `NAT-PMP(${s.gateway})` : 'natpmp', () => disc.pmp(s.gateway))
    case 'any':
      // geth Any: UPnP and PMP discovery race; the first one found wins.
      return autodisc('any', 'any', () => firstFound([disc.upnp(), disc.pmp()]))
  }
}

/** The first promise resolving to a value, or undefined when all resolve empty or reject. */
async function firstFound<T>(ps: Promise<T | undefined>[]): Promise<T | undefined> {
  return new Promise((resolve) => {
    let left = ps.length
    const done = () => {
      if (--left === 0) resolve(undefined)
    }
    for (const p of ps) p.then((v) => (v === undefined ? done() : resolve(v)), done)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// The @achingbrain/nat-port-mapper binding (loaded on first use, never in tests)

/** The local LAN IPv4 facing `gateway` (same /24 preferred), as geth natupnp internalAddress. */
function internalAddress(gateway?: string): string | undefined {
  const candidates: string[] = []
  for (const addrs of Object.values(networkInterfaces()))
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) candidates.push(a.address)
  if (gateway) {
    const prefix = gateway.split('.').slice(0, 3).join('.')
    const same = candidates.find((c) => c.startsWith(`${prefix}.`))
    if (same) return same
  }
  return candidates[0]
}

/** The default IPv4 gateway from /proc/net/route (Linux), else geth's guesses: x.x.x.1 of each LAN address. */
export function potentialGateways(routeTable?: string): string[] {
  const out: string[] = []
  let table = routeTable
  if (table === undefined) {
    try {
      table = readFileSync('/proc/net/route', 'utf8')
    } catch {
      table = ''
    }
  }
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 3 || f[1] !== '00000000' || f[2] === '00000000') continue
    const n = Number.parseInt(f[2]!, 16) // little-endian hex
    const gw = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.')
    if (!out.includes(gw)) out.push(gw)
  }
  if (routeTable === undefined)
    for (const addrs of Object.values(networkInterfaces()))
      for (const a of addrs ?? [])
        if (a.family === 'IPv4' && !a.internal && isLan(a.address)) {
          const gw = `${a.address.split('.').slice(0, 3).join('.')}.1`
          if (!out.includes(gw)) out.push(gw)
        }
  return out
}

type PortMapperModule = typeof import('@achingbrain/nat-port-mapper')
type LibGateway = Awaited<ReturnType<PortMapperModule['pmpNat']>>

async function loadPortMapper(): Promise<PortMapperModule> {
  try {
    return await import('@achingbrain/nat-port-mapper')
  } catch (e) {
    throw new NatError('UNAVAILABLE', 'UPnP/NAT-PMP need the @achingbrain/nat-port-mapper package', {
      cause: e,
    })
  }
}

function wrapGateway(label: string, g: LibGateway, ttlUnit: 'ms' | 's'): NatGateway {
  const host = internalAddress(g.host)
  return {
    label,
    async map(protocol, extPort, intPort, name, lifetimeMs) {
      if (!host) throw new NatError('NO_GATEWAY', 'no local IPv4 address to map to')
      // The library's PMP path writes `ttl` to the wire as seconds; its UPnP path takes ms (at least 1 h).
      const ttl = ttlUnit === 's' ? Math.ceil(lifetimeMs / 1000) : lifetimeMs
      const m = await g.map(intPort, host, {
        externalPort: extPort,
        protocol,
        description: name,
        ttl,
        autoRefresh: false,
      })
      return m.externalPort
    },
    unmap: async (_p, _ext, intPort) => g.unmap(intPort),
    externalIp: () => g.externalIp(),
    stop: () => g.stop(),
  }
}

/** geth discoverUPnP / discoverPMP through the library. */
export const libraryDiscovery: NatDiscovery = {
  async upnp() {
    const lib = await loadPortMapper()
    const client = lib.upnpNat({ autoRefresh: false })
    for await (const g of client.findGateways({ signal: AbortSignal.timeout(UPNP_DISCOVERY_TIMEOUT_MS) }))
      return wrapGateway('UPnP', g, 'ms')
    return undefined
  },
  async pmp(gateway) {
    const lib = await loadPortMapper()
    const gws = gateway ? [gateway] : potentialGateways()
    // geth discoverPMP: ask every candidate for its external address; the first to answer within 1 s wins.
    return firstFound(
      gws.map(async (ip) => {
        const g = lib.pmpNat(ip, { autoRefresh: false })
        try {
          await g.externalIp({ signal: AbortSignal.timeout(PMP_DISCOVERY_TIMEOUT_MS) })
          return wrapGateway(`NAT-PMP(${ip})`, g, 's')
        } catch {
          await g.stop().catch(() => {})
          return undefined
        }
      }),
    )
  },
}

// ---------------------------------------------------------------------------------------------------------------
// The port mapping loop (geth server_nat.go)

export interface PortMappingRequest {
  protocol: NatProtocol
  /** The local port to map. */
  port: number
  /** Description shown by the router (geth: 'ethereum p2p' / 'ethereum discovery'). */
  name: string
}

/** Timer functions the loop uses (injected in tests). Handles returned must be clearable by clearTimeout. */
export interface LoopTimers {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const realTimers: LoopTimers = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
}

export interface NatLogger {
  debug?(msg: string): void
  info?(msg: string): void
}

export interface PortMappingOptions {
  nat: Nat
  mappings: PortMappingRequest[]
  /** The gateway's external IP changed, or could not be read (undefined) — geth localnode.SetStaticIP. */
  onExternalIp?: (ip: string | undefined) => void
  /** A mapping got a (new) external port — geth sets the ENR tcp / fallback UDP port. */
  onMapped?: (protocol: NatProtocol, extPort: number, intPort: number) => void
  logger?: NatLogger
  timers?: LoopTimers
  durationMs?: number
  refreshIntervalMs?: number
  retryIntervalMs?: number
  extIpIntervalMs?: number
  maxRetries?: number
}

export interface PortMappingHandle {
  /** Add a mapping to the loop (geth portMappingRegister). */
  register(m: PortMappingRequest): void
  /** Current state of each mapping (extPort 0: not mapped). */
  mappings(): Array<PortMappingRequest & { extPort: number; retries: number; nextTime: number }>
  /** Resolves once the loop has nothing in flight (tests). */
  idle(): Promise<void>
  /** Stop the timers and delete every mapping that was made. */
  stop(): Promise<void>
}

interface MappingState extends PortMappingRequest {
  extPort: number
  retries: number
  nextTime: number
}

/**
 * geth portMappingLoop. For extip (or no NAT) geth does not run it: the caller sets the static IP instead; here
 * an ExtIP Nat reports its IP once through onExternalIp and maps nothing.
 */
export function startPortMapping(opts: PortMappingOptions): PortMappingHandle {
  const t = opts.timers ?? realTimers
  const nat = opts.nat
  const duration = opts.durationMs ?? PORT_MAP_DURATION_MS
  const refreshInterval = opts.refreshIntervalMs ?? PORT_MAP_REFRESH_INTERVAL_MS
  const retryInterval = opts.retryIntervalMs ?? PORT_MAP_RETRY_INTERVAL_MS
  const extIpInterval = opts.extIpIntervalMs ?? EXTIP_RETRY_INTERVAL_MS
  const maxRetries = opts.maxRetries ?? PORT_MAP_MAX_RETRIES
  const log = opts.logger
  const mappings = new Map<NatProtocol, MappingState>()
  let lastExtIp: string | undefined
  let stopped = false
  let extIpTimer: unknown
  let refreshTimer: unknown
  let chain: Promise<void> = Promise.resolve()
  // Every step runs after the previous one (geth: one goroutine).
  const enqueue = (step: () => Promise<void>) => {
    chain = chain
      .then(() => (stopped ? undefined : step()))
      .catch((e) => log?.debug?.(`NAT loop: ${String(e)}`))
  }

  const scheduleRefresh = () => {
    if (stopped) return
    if (refreshTimer !== undefined) t.clearTimeout(refreshTimer)
    refreshTimer = undefined
    if (mappings.size === 0) return
    const next = Math.min(...[...mappings.values()].map((m) => m.nextTime))
    refreshTimer = t.setTimeout(
      () => {
        refreshTimer = undefined
        enqueue(refresh)
      },
      Math.max(0, next - t.now()),
    )
  }

  const checkExtIp = async () => {
    if (stopped) return
    extIpTimer = t.setTimeout(() => enqueue(checkExtIp), extIpInterval)
    let ip: string | undefined
    try {
      ip = await nat.externalIp()
      if (ip === lastExtIp) return
      log?.debug?.(`External IP changed: ${ip} (${nat})`)
    } catch (e) {
      log?.debug?.(`Couldn't get external IP from ${nat}: ${String(e)}`)
      ip = undefined
    }
    if (stopped) return
    lastExtIp = ip
    opts.onExternalIp?.(ip)
    // A new network: refresh every mapping now.
    for (const m of mappings.values()) m.nextTime = t.now()
    scheduleRefresh()
  }

  const refresh = async () => {
    for (const m of mappings.values()) {
      if (stopped) return
      if (t.now() < m.nextTime) continue
      try {
        const p = await nat.addMapping(m.protocol, m.extPort, m.port, m.name, duration)
        m.retries = 0
        if (p !== m.extPort) {
          m.extPort = p
          log?.info?.(
            `NAT mapped ${p === m.port ? 'port' : 'alternative port'} ${m.protocol} ${p} → ${m.port}`,
          )
          opts.onMapped?.(m.protocol, p, m.port)
        }
        m.nextTime = t.now() + refreshInterval
      } catch (e) {
        if (m.extPort === 0) log?.debug?.(`Couldn't add port mapping ${m.protocol} ${m.port}: ${String(e)}`)
        else {
          // UPnP gateways are often buggy and the lifetime outlasts the retry: keep the port, retry soon.
          log?.debug?.(`Couldn't refresh port mapping ${m.protocol} ${m.extPort}: ${String(e)}`)
          m.retries++
          if (m.retries > maxRetries) {
            m.retries = 0
            await nat.deleteMapping(m.protocol, m.extPort, m.port).catch(() => {})
            m.extPort = 0
          }
        }
        m.nextTime = t.now() + retryInterval
      }
    }
    scheduleRefresh()
  }

  const register = (r: PortMappingRequest) => {
    if (stopped) return
    if (r.protocol !== 'TCP' && r.protocol !== 'UDP')
      throw new NatError('UNAVAILABLE', `unknown NAT protocol ${r.protocol}`)
    mappings.set(r.protocol, { ...r, extPort: 0, retries: 0, nextTime: t.now() })
    scheduleRefresh()
  }

  if (nat.mechanism === 'extip') {
    // geth setupPortMapping: ExtIP sets the static IP right away and runs no loop.
    enqueue(async () => {
      opts.onExternalIp?.(await nat.externalIp())
    })
  } else {
    enqueue(checkExtIp)
    for (const m of opts.mappings) register(m)
  }

  return {
    register(m) {
      if (nat.mechanism !== 'extip') register(m)
    },
    mappings: () => [...mappings.values()].map((m) => ({ ...m })),
    idle: async () => {
      let seen: Promise<void>
      do {
        seen = chain
        await seen
      } while (seen !== chain)
    },
    async stop() {
      if (stopped) return
      stopped = true
      if (extIpTimer !== undefined) t.clearTimeout(extIpTimer)
      if (refreshTimer !== undefined) t.clearTimeout(refreshTimer)
      await chain
      for (const m of mappings.values())
        if (m.extPort !== 0) {
          log?.debug?.(`Deleting port mapping ${m.protocol} ${m.extPort}`)
          await nat.deleteMapping(m.protocol, m.extPort, m.port).catch(() => {})
        }
      await nat.close()
    },
  }
}
