// Clock-drift check of discovery v4, after geth p2p/discover/ntp.go (sntpDrift, checkClockDrift) and the
// timeout counting in p2p/discover/v4_udp.go (ntpFailureThreshold, ntpWarningCooldown, driftThreshold).
// SNTP is RFC 4330: a 48-byte request with version 3 / mode 3 (client); the reply's transmit timestamp
// (bytes 40..47, seconds since 1900 + 32-bit fraction) is the server's clock.
//
// API
//   sntpDrift({ server, port, measurements, timeoutMs })  → drift in ms (positive: our clock is ahead)
//   createClockCheck({ server, port, logger, onResult })  → ClockCheck: the hook the discv4 service calls
//       on every reply timeout (`timeout()`) and every matched reply (`reply()`); after more than 32
//       consecutive timeouts it runs one SNTP check (at most one per 10 min) and warns when |drift| > 10 s.
// Default server pool.ntp.org:123 — tests always pass a local fake server.
import { createSocket } from 'node:dgram'

/** geth ntp.go `ntpPool`. */
export const NTP_POOL = 'pool.ntp.org'
/** The NTP port (RFC 4330). */
export const NTP_PORT = 123
/** geth ntp.go `ntpChecks`: measurements kept (two more are taken, the extremes dropped). */
export const NTP_CHECKS = 3
/** geth v4_udp.go `ntpFailureThreshold`: consecutive timeouts after which the clock is checked (count > 32). */
export const NTP_FAILURE_THRESHOLD = 32
/** geth v4_udp.go `ntpWarningCooldown`: minimum time between two checks. */
export const NTP_WARNING_COOLDOWN_MS = 10 * 60_000
/** geth v4_udp.go `driftThreshold`: allowed drift before warning the user. */
export const DRIFT_THRESHOLD_MS = 10_000
/** geth ntp.go: read deadline of each SNTP exchange. */
export const NTP_REPLY_TIMEOUT_MS = 5_000
/** Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01). */
export const NTP_UNIX_OFFSET_S = 2_208_988_800
/** Size of an SNTP packet without extensions. */
export const NTP_PACKET_SIZE = 48

export interface SntpOptions {
  /** NTP server host name or IP (default pool.ntp.org). */
  server?: string
  /** UDP port (default 123). */
  port?: number
  /** Measurements averaged after dropping the extremes (default 3; measurements + 2 are taken). */
  measurements?: number
  /** Deadline of each exchange in ms (default 5 s). */
  timeoutMs?: number
  /** Wall clock in ms since the Unix epoch (default Date.now); the clock being checked. */
  now?: () => number
  /** Aborts the measurement (rejects with the signal's reason). */
  signal?: AbortSignal
}

/** The 48-byte SNTP client request: LI 0, version 3, mode 3 (geth `request[0] = 3<<3 | 3`). */
export function sntpRequest(): Uint8Array {
  const req = new Uint8Array(NTP_PACKET_SIZE)
  req[0] = (3 << 3) | 3
  return req
}

/** The transmit timestamp of an SNTP reply as Unix time in ms (fractional). */
export function sntpTransmitTimeMs(reply: Uint8Array): number {
  if (reply.length < NTP_PACKET_SIZE)
    throw new RangeError(`SNTP reply of ${reply.length} bytes, want ${NTP_PACKET_SIZE}`)
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength)
  const sec = view.getUint32(40)
  const frac = view.getUint32(44)
  return (sec - NTP_UNIX_OFFSET_S) * 1000 + (frac * 1000) / 2 ** 32
}

/** Encode Unix time in ms as a 64-bit NTP timestamp (seconds since 1900 + fraction), big-endian. */
export function ntpTimestamp(unixMs: number): Uint8Array {
  const out = new Uint8Array(8)
  const view = new DataView(out.buffer)
  const total = unixMs / 1000 + NTP_UNIX_OFFSET_S
  const sec = Math.floor(total)
  view.setUint32(0, sec >>> 0)
  view.setUint32(4, Math.min(2 ** 32 - 1, Math.floor((total - sec) * 2 ** 32)))
  return out
}

/**
 * geth's drift estimate from samples: sort, drop the lowest and highest, sum the rest and divide by
 * `measurements` (with measurements + 2 samples, the mean of the middle ones).
 */
export function driftFromSamples(samples: readonly number[], measurements: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  let sum = 0
  for (let i = 1; i < sorted.length - 1; i++) sum += sorted[i]!
  return sum / measurements
}

/** One SNTP exchange; resolves to the sample `sent - serverTime + elapsed / 2` in ms. */
function sntpSample(
  server: string,
  port: number,
  timeoutMs: number,
  now: () => number,
  signal?: AbortSignal,
) {
  return new Promise<number>((resolve, reject) => {
    const sock = createSocket(server.includes(':') ? 'udp6' : 'udp4')
    let done = false
    const finish = (err: unknown, value?: number) => {
      if (done) return
      done = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      sock.removeAllListeners('message')
      try {
        sock.close()
      } catch {
        // already closed
      }
      if (err) reject(err)
      else resolve(value!)
    }
    const onAbort = () => finish(signal?.reason ?? new Error('aborted'))
    const timer = setTimeout(
      () => finish(new Error(`SNTP: no reply from ${server}:${port} in ${timeoutMs} ms`)),
      timeoutMs,
    )
    timer.unref?.()
    signal?.addEventListener('abort', onAbort, { once: true })
    let sentWall = 0
    let sentMono = 0
    sock.on('error', (e) => finish(e))
    sock.on('message', (msg) => {
      const elapsed = performance.now() - sentMono
      if (msg.length < NTP_PACKET_SIZE) return // not an SNTP reply; keep waiting until the deadline
      const serverTime = sntpTransmitTimeMs(msg)
      finish(undefined, sentWall - serverTime + elapsed / 2)
    })
    // A connected socket only receives datagrams from the server (geth net.DialUDP).
    sock.connect(port, server, () => {
      if (done) return
      sentWall = now()
      sentMono = performance.now()
      sock.send(sntpRequest(), (e) => {
        if (e) finish(e)
      })
    })
    if (signal?.aborted) onAbort()
  })
}

/**
 * geth sntpDrift: `measurements + 2` SNTP exchanges one after another against the server; the first error
 * (resolution, send, timeout) rejects. Returns the drift in ms, positive when the local clock is ahead.
 */
export async function sntpDrift(opts: SntpOptions = {}): Promise<number> {
  const server = opts.server ?? NTP_POOL
  const port = opts.port ?? NTP_PORT
  const measurements = opts.measurements ?? NTP_CHECKS
  const timeoutMs = opts.timeoutMs ?? NTP_REPLY_TIMEOUT_MS
  const now = opts.now ?? Date.now
  const samples: number[] = []
  for (let i = 0; i < measurements + 2; i++)
    samples.push(await sntpSample(server, port, timeoutMs, now, opts.signal))
  return driftFromSamples(samples, measurements)
}

/** The logger the check warns through (pino and console both fit). */
export interface ClockLogger {
  warn(msg: string): void
  debug?(msg: string): void
}

export type ClockCheckResult = { ok: true; driftMs: number; warned: boolean } | { ok: false; error: Error }

export interface ClockCheckOptions extends Omit<SntpOptions, 'signal'> {
  logger?: ClockLogger
  /** Called with every finished check (tests, metrics). */
  onResult?: (result: ClockCheckResult) => void
  /** Consecutive timeouts tolerated before a check (default 32; the check runs at count > threshold). */
  failureThreshold?: number
  /** Minimum time between checks in ms (default 10 min). */
  cooldownMs?: number
  /** Drift that triggers the warning, in ms (default 10 s). */
  driftThresholdMs?: number
  /** Monotonic clock for the cooldown in ms (default performance.now). */
  monotonic?: () => number
}

/** The hook the discv4 service drives; see the module header. */
export interface ClockCheck {
  /** A request timed out (geth: `contTimeouts++` for every expired reply matcher). */
  timeout(): void
  /** A reply matched a pending request: the consecutive count starts again (geth `contTimeouts = 0`). */
  reply(): void
  /** Report `n` timeouts at once (equivalent to n × timeout()). */
  timeouts(n: number): void
  /** Run a check now regardless of counters and cooldown; resolves when it is done. */
  check(): Promise<ClockCheckResult>
  /** Consecutive timeouts counted so far. */
  readonly consecutiveTimeouts: number
  /** The check in flight, if any (tests await it). */
  readonly pending: Promise<ClockCheckResult> | undefined
  /** Abort a check in flight; later hooks do nothing. */
  close(): void
}

/** geth checkClockDrift + the counting loop of v4_udp.go, as an object the service feeds. */
export function createClockCheck(opts: ClockCheckOptions = {}): ClockCheck {
  const threshold = opts.failureThreshold ?? NTP_FAILURE_THRESHOLD
  const cooldown = opts.cooldownMs ?? NTP_WARNING_COOLDOWN_MS
  const driftThreshold = opts.driftThresholdMs ?? DRIFT_THRESHOLD_MS
  const monotonic = opts.monotonic ?? (() => performance.now())
  const abort = new AbortController()
  let count = 0
  let lastCheck: number | undefined
  let pending: Promise<ClockCheckResult> | undefined
  let closed = false

  const run = (): Promise<ClockCheckResult> => {
    const p = sntpDrift({ ...opts, signal: abort.signal }).then(
      (driftMs): ClockCheckResult => {
        const warned = Math.abs(driftMs) > driftThreshold
        if (warned && !closed) {
          opts.logger?.warn(
            `System clock seems off by ${(driftMs / 1000).toFixed(3)}s, which can prevent network connectivity`,
          )
          opts.logger?.warn('Please enable network time synchronisation in system settings.')
        } else if (!closed)
          opts.logger?.debug?.(`NTP sanity check done, drift ${(driftMs / 1000).toFixed(3)}s`)
        return { ok: true, driftMs, warned }
      },
      (e: unknown): ClockCheckResult => ({ ok: false, error: e instanceof Error ? e : new Error(String(e)) }),
    )
    const tracked = p.then((r) => {
      if (pending === tracked) pending = undefined
      if (!closed) opts.onResult?.(r)
      return r
    })
    pending = tracked
    return tracked
  }

  const onTimeout = () => {
    if (closed) return
    count++
    if (count > threshold) {
      const now = monotonic()
      if (lastCheck === undefined || now - lastCheck >= cooldown) {
        lastCheck = now
        void run()
      }
      count = 0
    }
  }

  return {
    timeout: onTimeout,
    reply() {
      count = 0
    },
    timeouts(n: number) {
      for (let i = 0; i < n; i++) onTimeout()
    },
    check: () => run(),
    get consecutiveTimeouts() {
      return count
    },
    get pending() {
      return pending
    },
    close() {
      closed = true
      abort.abort(new Error('clock check closed'))
    },
  }
}
