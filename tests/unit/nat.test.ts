// NAT (actors/nat.ts, geth p2p/nat + p2p/server_nat.go): spec parser, extip, lazy discovery and the port
// mapping loop's refresh schedule on a fake mapper and fake timers. No packet leaves the process.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  createNat,
  EXTIP_RETRY_INTERVAL_MS,
  extIp,
  formatNatSpec,
  type LoopTimers,
  type Nat,
  type NatDiscovery,
  NatError,
  type NatGateway,
  type NatProtocol,
  PORT_MAP_DURATION_MS,
  PORT_MAP_REFRESH_INTERVAL_MS,
  PORT_MAP_RETRY_INTERVAL_MS,
  parseNat,
  potentialGateways,
  startPortMapping,
} from '../../actors/nat.ts'

describe('parseNat (geth nat.Parse)', () => {
  const ok: Array<[string, ReturnType<typeof parseNat>]> = [
    ['', { mechanism: 'none' }],
    ['none', { mechanism: 'none' }],
    ['off', { mechanism: 'none' }],
    ['NONE', { mechanism: 'none' }],
    ['any', { mechanism: 'any' }],
    ['auto', { mechanism: 'any' }],
    ['on', { mechanism: 'any' }],
    ['upnp', { mechanism: 'upnp' }],
    ['UPnP', { mechanism: 'upnp' }],
    ['pmp', { mechanism: 'pmp' }],
    ['natpmp', { mechanism: 'pmp' }],
    ['nat-pmp', { mechanism: 'pmp' }],
    ['pmp:192.168.0.1', { mechanism: 'pmp', gateway: '192.168.0.1' }],
    ['extip:77.12.33.4', { mechanism: 'extip', ip: '77.12.33.4' }],
    ['ExtIP:77.12.33.4', { mechanism: 'extip', ip: '77.12.33.4' }],
    ['ip:10.1.2.3', { mechanism: 'extip', ip: '10.1.2.3' }],
    ['extip:2001:db8::1', { mechanism: 'extip', ip: '2001:db8::1' }],
    ['extip:::ffff:1.2.3.4', { mechanism: 'extip', ip: '1.2.3.4' }],
  ]
  for (const [spec, want] of ok)
    it(`accepts ${JSON.stringify(spec)}`, () => {
      assert.deepEqual(parseNat(spec), want)
      assert.deepEqual(parseNat(formatNatSpec(want)), want, 'formatNatSpec round-trips')
    })

  const bad: Array<[string, string]> = [
    ['extip', 'MISSING_IP'],
    ['ip', 'MISSING_IP'],
    ['extip:', 'INVALID_IP'],
    ['extip:1.2.3', 'INVALID_IP'],
    ['extip:example.com', 'INVALID_IP'],
    ['extip:1.2.3.4:30303', 'INVALID_IP'],
    ['pmp:router', 'INVALID_IP'],
    ['upnp:1.2.3.4.5', 'INVALID_IP'],
    ['stun', 'UNKNOWN_MECHANISM'],
    ['foo', 'UNKNOWN_MECHANISM'],
    ['foo:1.2.3.4', 'UNKNOWN_MECHANISM'],
  ]
  for (const [spec, code] of bad)
    it(`rejects ${JSON.stringify(spec)} with ${code}`, () => {
      assert.throws(
        () => parseNat(spec),
        (e: unknown) => e instanceof NatError && e.code === code && e.message.length > 0,
      )
    })
})

describe('extip', () => {
  it('reports the fixed IP and maps nothing', async () => {
    const n = createNat('extip:203.0.113.9')
    assert.ok(n)
    assert.equal(n.mechanism, 'extip')
    assert.equal(await n.externalIp(), '203.0.113.9')
    assert.equal(await n.addMapping('UDP', 0, 30303, 'x', PORT_MAP_DURATION_MS), 30303)
    assert.equal(await n.addMapping('TCP', 40404, 30303, 'x', PORT_MAP_DURATION_MS), 40404)
    await n.deleteMapping('TCP', 40404, 30303)
    assert.equal(String(n), 'ExtIP(203.0.113.9)')
    await n.close()
  })

  it('none gives no Nat; extIp() validates', () => {
    assert.equal(createNat('none'), undefined)
    assert.equal(createNat(''), undefined)
    assert.throws(() => extIp('nope'), NatError)
  })

  it('the mapping loop only reports the IP for extip (geth runs no loop)', async () => {
    const ips: Array<string | undefined> = []
    const clock = fakeTimers()
    const h = startPortMapping({
      nat: extIp('198.51.100.3'),
      mappings: [{ protocol: 'UDP', port: 30303, name: 'ethereum discovery' }],
      onExternalIp: (ip) => ips.push(ip),
      timers: clock,
    })
    await h.idle()
    assert.deepEqual(ips, ['198.51.100.3'])
    assert.equal(clock.pending(), 0)
    assert.deepEqual(h.mappings(), [])
    await h.stop()
  })
})

describe('lazy discovery (geth autodisc)', () => {
  it('nothing is discovered until first use; a failed discovery fails every call with NO_GATEWAY', async () => {
    let calls = 0
    const discovery: NatDiscovery = {
      upnp: async () => {
        calls++
        return undefined
      },
      pmp: async () => {
        calls++
        throw new Error('no route')
      },
    }
    const u = createNat('upnp', { discovery })
    const p = createNat('pmp', { discovery })
    assert.equal(calls, 0)
    assert.equal(String(u), 'upnp')
    await assert.rejects(u!.externalIp(), (e: unknown) => e instanceof NatError && e.code === 'NO_GATEWAY')
    await assert.rejects(u!.addMapping('TCP', 0, 1, 'x', 1000), /no upnp router discovered/)
    await assert.rejects(p!.externalIp(), /no natpmp router discovered/)
    assert.equal(calls, 2, 'discovery runs once per Nat')
    await u!.close()
    await p!.close()
  })

  it('any takes whichever gateway is found; extPort 0 means the internal port', async () => {
    const gw = fakeGateway('NAT-PMP(10.0.0.1)')
    const discovery: NatDiscovery = { upnp: async () => undefined, pmp: async () => gw }
    const n = createNat('any', { discovery })!
    assert.equal(await n.externalIp(), '203.0.113.50')
    assert.equal(String(n), 'NAT-PMP(10.0.0.1)')
    assert.equal(await n.addMapping('UDP', 0, 30303, 'ethereum discovery', 600_000), 30303)
    assert.deepEqual(gw.calls.at(-1), ['map', 'UDP', 30303, 30303, 600_000])
    await n.close()
    assert.equal(gw.stopped, true)
  })

  it('pmp:GW passes the gateway to discovery', async () => {
    let asked: string | undefined
    const discovery: NatDiscovery = {
      upnp: async () => undefined,
      pmp: async (g) => {
        asked = g
        return fakeGateway(`NAT-PMP(${g})`)
      },
    }
    const n = createNat('pmp:192.168.7.1', { discovery })!
    await n.externalIp()
    assert.equal(asked, '192.168.7.1')
    assert.equal(String(n), 'NAT-PMP(192.168.7.1)')
  })

  it('potentialGateways reads the default route of /proc/net/route', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      'eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
    ].join('\n')
    assert.deepEqual(potentialGateways(table), ['192.168.1.1'])
    assert.deepEqual(potentialGateways(''), [])
  })
})

// ------------------------------------------------------------------------------------------------------------
// Fakes

function fakeGateway(label: string): NatGateway & { calls: unknown[][]; stopped: boolean } {
  const g = {
    label,
    calls: [] as unknown[][],
    stopped: false,
    async map(p: NatProtocol, ext: number, int: number, _n: string, life: number) {
      g.calls.push(['map', p, ext, int, life])
      return ext
    },
    async unmap(p: NatProtocol, ext: number, int: number) {
      g.calls.push(['unmap', p, ext, int])
    },
    externalIp: async () => '203.0.113.50',
    async stop() {
      g.stopped = true
    },
  }
  return g
}

/** Manual timers: advance(ms) fires due callbacks in time order and lets the loop's promises settle. */
function fakeTimers(): LoopTimers & { advance(ms: number): Promise<void>; pending(): number; time: number } {
  let now = 0
  let seq = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r))
  }
  return {
    get time() {
      return now
    },
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq
      timers.set(id, { at: now + ms, fn })
      return id
    },
    clearTimeout(h) {
      timers.delete(h as number)
    },
    pending: () => timers.size,
    async advance(ms: number) {
      const end = now + ms
      await settle()
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined
        for (const e of timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e
        if (!next) break
        timers.delete(next[0])
        now = next[1].at
        next[1].fn()
        await settle()
      }
      now = end
      await settle()
    },
  }
}

type Call = { t: number; op: string; protocol?: NatProtocol; ext?: number; int?: number; life?: number }

/** A fake Nat recording each call with the fake time; failures and port choices are scripted. */
function fakeNat(clock: { time: number }) {
  const calls: Call[] = []
  const state = { ip: '203.0.113.1', failAdd: false, failIp: false, grant: undefined as number | undefined }
  const nat: Nat = {
    mechanism: 'upnp',
    async addMapping(protocol, ext, int, _name, life) {
      calls.push({ t: clock.time, op: 'add', protocol, ext, int, life })
      if (state.failAdd) throw new Error('gateway says no')
      return state.grant ?? (ext || int)
    },
    async deleteMapping(protocol, ext, int) {
      calls.push({ t: clock.time, op: 'delete', protocol, ext, int })
    },
    async externalIp() {
      calls.push({ t: clock.time, op: 'extip' })
      if (state.failIp) throw new Error('no answer')
      return state.ip
    },
    toString: () => 'FakeNAT',
    close: async () => {
      calls.push({ t: clock.time, op: 'close' })
    },
  }
  return { nat, calls, state }
}

const MIN = 60_000

describe('port mapping loop (geth server_nat.go portMappingLoop)', () => {
  it('maps at once with a 10 min lifetime, refreshes every 8 min, polls the external IP every 2 min', async () => {
    const clock = fakeTimers()
    const { nat, calls } = fakeNat(clock)
    const ips: Array<string | undefined> = []
    const mapped: Array<[NatProtocol, number, number]> = []
    const h = startPortMapping({
      nat,
      mappings: [
        { protocol: 'TCP', port: 30303, name: 'ethereum p2p' },
        { protocol: 'UDP', port: 30301, name: 'ethereum discovery' },
      ],
      onExternalIp: (ip) => ips.push(ip),
      onMapped: (p, e, i) => mapped.push([p, e, i]),
      timers: clock,
    })
    await clock.advance(0)
    assert.deepEqual(ips, ['203.0.113.1'])
    assert.deepEqual(mapped, [
      ['TCP', 30303, 30303],
      ['UDP', 30301, 30301],
    ])
    const adds = () => calls.filter((c) => c.op === 'add')
    assert.equal(adds().length, 2)
    assert.ok(adds().every((c) => c.life === PORT_MAP_DURATION_MS && c.t === 0))
    assert.equal(adds()[0]!.ext, 0, 'first add asks for "any"/same port like geth (extPort 0)')

    await clock.advance(30 * MIN)
    const times = adds().map((c) => c.t)
    assert.deepEqual(times, [0, 0, 8 * MIN, 8 * MIN, 16 * MIN, 16 * MIN, 24 * MIN, 24 * MIN])
    assert.ok(
      adds()
        .slice(2)
        .every((c) => c.ext === c.int),
      'refresh asks for the port already mapped',
    )
    const polls = calls.filter((c) => c.op === 'extip').map((c) => c.t)
    assert.equal(polls.length, 30 / 2 + 1)
    assert.ok(polls.every((t, i) => t === i * EXTIP_RETRY_INTERVAL_MS))
    assert.equal(mapped.length, 2, 'onMapped only when the external port changes')
    assert.deepEqual(ips, ['203.0.113.1'], 'the same IP is reported once')

    await h.stop()
    assert.deepEqual(
      calls.slice(-3).map((c) => [c.op, c.protocol, c.ext]),
      [
        ['delete', 'TCP', 30303],
        ['delete', 'UDP', 30301],
        ['close', undefined, undefined],
      ],
    )
    assert.equal(clock.pending(), 0, 'no timer left')
  })

  it('a failed first add is retried after 5 min; an alternative port is reported', async () => {
    const clock = fakeTimers()
    const { nat, calls, state } = fakeNat(clock)
    const mapped: Array<[NatProtocol, number, number]> = []
    state.failAdd = true
    const h = startPortMapping({
      nat,
      mappings: [{ protocol: 'UDP', port: 30303, name: 'd' }],
      onMapped: (p, e, i) => mapped.push([p, e, i]),
      timers: clock,
    })
    await clock.advance(4 * MIN)
    assert.deepEqual(
      calls.filter((c) => c.op === 'add').map((c) => c.t),
      [0],
    )
    state.failAdd = false
    state.grant = 40000
    await clock.advance(2 * MIN)
    const adds = calls.filter((c) => c.op === 'add')
    assert.deepEqual(
      adds.map((c) => c.t),
      [0, PORT_MAP_RETRY_INTERVAL_MS],
    )
    assert.deepEqual(mapped, [['UDP', 40000, 30303]])
    assert.equal(h.mappings()[0]!.extPort, 40000)
    assert.equal(h.mappings()[0]!.nextTime, PORT_MAP_RETRY_INTERVAL_MS + PORT_MAP_REFRESH_INTERVAL_MS)
    await h.stop()
    assert.deepEqual(
      calls.find((c) => c.op === 'delete'),
      { t: 6 * MIN, op: 'delete', protocol: 'UDP', ext: 40000, int: 30303 },
    )
  })

  it('failed refreshes keep the port; after 5 failures (the 6th) the mapping is deleted and re-added from 0', async () => {
    const clock = fakeTimers()
    const { nat, calls, state } = fakeNat(clock)
    const h = startPortMapping({
      nat,
      mappings: [{ protocol: 'TCP', port: 30303, name: 'p' }],
      timers: clock,
    })
    await clock.advance(0)
    state.failAdd = true
    // refreshes fail at 8, 13, 18, 23, 28 min (retries 1..5), the 6th at 33 min deletes
    await clock.advance(32 * MIN)
    assert.equal(h.mappings()[0]!.retries, 5)
    assert.equal(h.mappings()[0]!.extPort, 30303)
    await clock.advance(1 * MIN)
    assert.equal(h.mappings()[0]!.retries, 0)
    assert.equal(h.mappings()[0]!.extPort, 0)
    assert.deepEqual(
      calls.filter((c) => c.op === 'delete').map((c) => c.t),
      [33 * MIN],
    )
    state.failAdd = false
    await clock.advance(5 * MIN)
    const last = calls.filter((c) => c.op === 'add').at(-1)!
    assert.deepEqual([last.t, last.ext], [38 * MIN, 0])
    assert.equal(h.mappings()[0]!.extPort, 30303)
    await h.stop()
  })

  it('an external IP change (or failure) is reported and triggers an immediate refresh', async () => {
    const clock = fakeTimers()
    const { nat, calls, state } = fakeNat(clock)
    const ips: Array<string | undefined> = []
    const h = startPortMapping({
      nat,
      mappings: [{ protocol: 'UDP', port: 30303, name: 'd' }],
      onExternalIp: (ip) => ips.push(ip),
      timers: clock,
    })
    await clock.advance(3 * MIN)
    state.ip = '198.51.100.77'
    await clock.advance(1 * MIN) // poll at 4 min sees the change
    assert.deepEqual(ips, ['203.0.113.1', '198.51.100.77'])
    assert.deepEqual(
      calls.filter((c) => c.op === 'add').map((c) => c.t),
      [0, 4 * MIN],
    )
    state.failIp = true
    await clock.advance(2 * MIN)
    assert.deepEqual(ips, ['203.0.113.1', '198.51.100.77', undefined])
    await h.stop()
  })

  it('register() adds a mapping later (geth portMappingRegister); stop() is idempotent', async () => {
    const clock = fakeTimers()
    const { nat, calls } = fakeNat(clock)
    const h = startPortMapping({ nat, mappings: [], timers: clock })
    await clock.advance(1 * MIN)
    assert.equal(calls.filter((c) => c.op === 'add').length, 0)
    h.register({ protocol: 'TCP', port: 1234, name: 't' })
    await clock.advance(0)
    assert.deepEqual(
      calls.filter((c) => c.op === 'add').map((c) => [c.t, c.int]),
      [[1 * MIN, 1234]],
    )
    await h.stop()
    await h.stop()
    h.register({ protocol: 'UDP', port: 1, name: 'u' })
    assert.equal(clock.pending(), 0)
  })

  it('real timers are unref’d: a loop left running does not hold the process', async () => {
    const gw = fakeGateway('fake')
    const n = createNat('upnp', { discovery: { upnp: async () => gw, pmp: async () => undefined } })!
    const h = startPortMapping({ nat: n, mappings: [{ protocol: 'UDP', port: 5, name: 'x' }] })
    await h.idle()
    await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(gw.calls[0], ['map', 'UDP', 5, 5, PORT_MAP_DURATION_MS])
    // Only unref'd timers remain: the handles must not keep the event loop alive.
    const active = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo()
    assert.ok(!active.includes('Timeout'), active.join(','))
    await h.stop()
    assert.deepEqual(gw.calls.at(-1), ['unmap', 'UDP', 5, 5])
  })
})
