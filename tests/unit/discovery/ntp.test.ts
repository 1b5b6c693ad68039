// Clock-drift check (actors/discovery/ntp.ts, geth p2p/discover/ntp.go) against a fake SNTP server on 127.0.0.1.
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { after, before, describe, it } from 'node:test'
import {
  type ClockCheckResult,
  createClockCheck,
  DRIFT_THRESHOLD_MS,
  driftFromSamples,
  NTP_FAILURE_THRESHOLD,
  NTP_PACKET_SIZE,
  ntpTimestamp,
  sntpDrift,
  sntpRequest,
  sntpTransmitTimeMs,
} from '../../../actors/discovery/ntp.ts'

/** A fake SNTP server: answers each request with its clock shifted by `offsetMs` (or stays silent). */
interface FakeNtp {
  port: number
  offsetMs: number
  silent: boolean
  requests: Uint8Array[]
  close(): Promise<void>
}

async function fakeNtp(offsetMs = 0): Promise<FakeNtp> {
  const sock: Socket = createSocket('udp4')
  const srv: FakeNtp = {
    port: 0,
    offsetMs,
    silent: false,
    requests: [],
    close: () => new Promise<void>((r) => sock.close(() => r())),
  }
  sock.on('message', (msg, rinfo) => {
    srv.requests.push(new Uint8Array(msg))
    if (srv.silent) return
    const reply = new Uint8Array(NTP_PACKET_SIZE)
    reply[0] = (0 << 6) | (3 << 3) | 4 // LI 0, version 3, mode 4 (server)
    reply[1] = 2 // stratum
    reply.set(msg.subarray(40, 48), 24) // originate = client's transmit
    const t = ntpTimestamp(Date.now() + srv.offsetMs)
    reply.set(t, 32) // receive
    reply.set(t, 40) // transmit
    sock.send(reply, rinfo.port, rinfo.address)
  })
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
  srv.port = sock.address().port
  return srv
}

describe('SNTP codec', () => {
  it('request is 48 bytes, version 3, mode client', () => {
    const r = sntpRequest()
    assert.equal(r.length, 48)
    assert.equal(r[0], 0x1b)
    assert.ok(r.subarray(1).every((b) => b === 0))
  })

  it('timestamps round-trip within a microsecond', () => {
    for (const t of [0, 1_700_000_000_123.5, Date.now(), 2_085_978_495_999]) {
      const reply = new Uint8Array(48)
      reply.set(ntpTimestamp(t), 40)
      assert.ok(Math.abs(sntpTransmitTimeMs(reply) - t) < 0.001, String(t))
    }
  })

  it('the NTP epoch is 1900-01-01', () => {
    const reply = new Uint8Array(48)
    // 2208988800 s after 1900 = Unix epoch
    new DataView(reply.buffer).setUint32(40, 2_208_988_800)
    assert.equal(sntpTransmitTimeMs(reply), 0)
    new DataView(reply.buffer).setUint32(44, 2 ** 31) // half a second
    assert.equal(sntpTransmitTimeMs(reply), 500)
  })

  it('rejects short replies', () => {
    assert.throws(() => sntpTransmitTimeMs(new Uint8Array(47)), RangeError)
  })

  it('drift drops the extremes and divides by the measurement count (geth)', () => {
    assert.equal(driftFromSamples([100, -5000, 1, 2, 3], 3), 2)
    assert.equal(driftFromSamples([10, 10, 10, 10, 10], 3), 10)
    assert.equal(
      driftFromSamples([-20_000, 5, -20_010, -19_990, -20_005], 3),
      (-20_005 + -20_000 + -19_990) / 3,
    )
  })
})

describe('sntpDrift against a fake server', () => {
  let srv: FakeNtp
  before(async () => {
    srv = await fakeNtp()
  })
  after(() => srv.close())

  it('no offset: drift within 50 ms, 5 requests sent', async () => {
    srv.offsetMs = 0
    srv.requests.length = 0
    const d = await sntpDrift({ server: '127.0.0.1', port: srv.port, timeoutMs: 1000 })
    assert.ok(Math.abs(d) < 50, `drift ${d}`)
    assert.equal(srv.requests.length, 5)
    for (const r of srv.requests) assert.equal(r[0], 0x1b)
  })

  it('server 20 s ahead: drift ≈ -20 s (our clock behind)', async () => {
    srv.offsetMs = 20_000
    const d = await sntpDrift({ server: '127.0.0.1', port: srv.port, timeoutMs: 1000 })
    assert.ok(Math.abs(d + 20_000) < 50, `drift ${d}`)
  })

  it('local clock 20 s ahead (injected): drift ≈ +20 s', async () => {
    srv.offsetMs = 0
    const d = await sntpDrift({
      server: '127.0.0.1',
      port: srv.port,
      timeoutMs: 1000,
      now: () => Date.now() + 20_000,
    })
    assert.ok(Math.abs(d - 20_000) < 50, `drift ${d}`)
  })

  it('silent server: rejects after the deadline', async () => {
    srv.silent = true
    const t0 = performance.now()
    await assert.rejects(sntpDrift({ server: '127.0.0.1', port: srv.port, timeoutMs: 150 }), /no reply/)
    const took = performance.now() - t0
    assert.ok(took >= 140 && took < 1000, `took ${took}`)
    srv.silent = false
  })
})

describe('createClockCheck (the service hook)', () => {
  const quiet = () => {
    const warnings: string[] = []
    return { warnings, logger: { warn: (m: string) => warnings.push(m) } }
  }

  it('no drift: one check after 33 consecutive timeouts, no warning', async () => {
    const srv = await fakeNtp(0)
    const { warnings, logger } = quiet()
    const results: unknown[] = []
    const cc = createClockCheck({
      server: '127.0.0.1',
      port: srv.port,
      timeoutMs: 500,
      logger,
      onResult: (r) => results.push(r),
    })
    cc.timeouts(NTP_FAILURE_THRESHOLD)
    assert.equal(cc.pending, undefined, 'not yet at 32')
    assert.equal(cc.consecutiveTimeouts, 32)
    cc.timeout()
    const pending = cc.pending as Promise<ClockCheckResult> | undefined
    assert.ok(pending, 'check started at 33')
    assert.equal(cc.consecutiveTimeouts, 0)
    const r = await pending
    assert.ok(r?.ok)
    assert.equal(r.ok && r.warned, false)
    assert.deepEqual(warnings, [])
    assert.equal(results.length, 1)
    cc.close()
    await srv.close()
  })

  it('20 s drift: warns through the logger', async () => {
    const srv = await fakeNtp(-20_000)
    const { warnings, logger } = quiet()
    const cc = createClockCheck({ server: '127.0.0.1', port: srv.port, timeoutMs: 500, logger })
    cc.timeouts(NTP_FAILURE_THRESHOLD + 1)
    const r = await cc.pending
    assert.ok(r?.ok)
    assert.ok(r.ok && r.warned && Math.abs(r.driftMs - 20_000) < 50)
    assert.equal(warnings.length, 2)
    assert.match(warnings[0]!, /System clock seems off by 20\.\d{3}s/)
    cc.close()
    await srv.close()
  })

  it('drift just under the threshold does not warn', async () => {
    const srv = await fakeNtp(-(DRIFT_THRESHOLD_MS - 500))
    const { warnings, logger } = quiet()
    const cc = createClockCheck({ server: '127.0.0.1', port: srv.port, timeoutMs: 500, logger })
    const r = await cc.check()
    assert.ok(r.ok && !r.warned)
    assert.deepEqual(warnings, [])
    cc.close()
    await srv.close()
  })

  it('a reply resets the consecutive count', async () => {
    const cc = createClockCheck({ server: '127.0.0.1', port: 9, timeoutMs: 50 })
    cc.timeouts(30)
    cc.reply()
    cc.timeouts(30)
    assert.equal(cc.pending, undefined)
    assert.equal(cc.consecutiveTimeouts, 30)
    cc.close()
  })

  it('at most one check per cooldown (10 min default)', async () => {
    const srv = await fakeNtp(0)
    let now = 1_000_000
    const cc = createClockCheck({ server: '127.0.0.1', port: srv.port, timeoutMs: 500, monotonic: () => now })
    cc.timeouts(33)
    await cc.pending
    assert.equal(srv.requests.length, 5)
    now += 9 * 60_000
    cc.timeouts(33 * 5)
    assert.equal(cc.pending, undefined, 'cooldown holds')
    assert.equal(srv.requests.length, 5)
    now += 60_000
    cc.timeouts(33)
    await cc.pending
    assert.equal(srv.requests.length, 10)
    cc.close()
    await srv.close()
  })

  it('silent server: the check ends in bounded time with an error result, no warning, no crash', async () => {
    const srv = await fakeNtp(0)
    srv.silent = true
    const { warnings, logger } = quiet()
    const cc = createClockCheck({ server: '127.0.0.1', port: srv.port, timeoutMs: 200, logger })
    const t0 = performance.now()
    cc.timeouts(33)
    const r = await cc.pending
    assert.ok(performance.now() - t0 < 1500)
    assert.ok(r && !r.ok)
    assert.match(r.ok ? '' : r.error.message, /no reply/)
    assert.deepEqual(warnings, [])
    assert.equal(srv.requests.length, 1, 'geth stops at the first failed exchange')
    cc.close()
    await srv.close()
  })

  it('close() aborts a check in flight', async () => {
    const srv = await fakeNtp(0)
    srv.silent = true
    const cc = createClockCheck({ server: '127.0.0.1', port: srv.port, timeoutMs: 5000 })
    const p = cc.check()
    cc.close()
    const r = await p
    assert.ok(!r.ok)
    cc.timeouts(100)
    assert.equal(cc.pending, undefined, 'no checks after close')
    await srv.close()
  })
})
