// External endpoint prediction (actors/discovery/ip-tracker.ts, geth p2p/netutil/iptrack.go) on an injected clock.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  canonicalIp,
  IPTRACK_CONTACT_WINDOW_MS,
  IPTRACK_MIN_STATEMENTS,
  IPTRACK_WINDOW_MS,
  IpTracker,
  localEndpoint,
} from '../../../actors/discovery/ip-tracker.ts'

type Ev =
  | { op: 'statement'; t: number; ip: string; port: number; from: string }
  | { op: 'contact'; t: number; from: string }
  | { op: 'predict'; t: number; want?: string }
  | { op: 'fullcone'; t: number; want: boolean }

/** Replays geth's iptrack_test.go event tables on a 10 s / 10 s / 3 tracker. */
function replay(events: Ev[]): void {
  let now = 0
  const it = new IpTracker({ windowMs: 10_000, contactWindowMs: 10_000, minStatements: 3, now: () => now })
  events.forEach((ev, i) => {
    now = ev.t
    if (ev.op === 'statement') it.addStatement(ev.from, { ip: ev.ip, port: ev.port })
    else if (ev.op === 'contact') it.addContact(ev.from)
    else if (ev.op === 'predict') {
      const p = it.predictEndpoint()
      assert.equal(p ? `${p.ip}:${p.port}` : undefined, ev.want, `op ${i}`)
    } else assert.equal(it.predictFullConeNat(), ev.want, `op ${i}`)
  })
}

const st = (t: number, from: string, ip = '127.0.0.1', port = 8000): Ev => ({
  op: 'statement',
  t,
  ip,
  port,
  from,
})

describe('IpTracker (geth iptrack_test.go tables)', () => {
  it('minStatements', () =>
    replay([
      { op: 'predict', t: 0 },
      st(0, '127.0.0.2'),
      { op: 'predict', t: 1000 },
      st(1000, '127.0.0.3'),
      { op: 'predict', t: 1000 },
      st(1000, '127.0.0.4'),
      { op: 'predict', t: 1000, want: '127.0.0.1:8000' },
    ]))

  it('window', () =>
    replay([
      st(0, '127.0.0.2'),
      st(2000, '127.0.0.3'),
      st(3000, '127.0.0.4'),
      { op: 'predict', t: 10_000, want: '127.0.0.1:8000' },
      { op: 'predict', t: 10_001 }, // first statement expired
      st(10_100, '127.0.0.2'),
      { op: 'predict', t: 10_200, want: '127.0.0.1:8000' },
    ]))

  it('fullcone: every statement preceded by our contact → false', () =>
    replay([
      { op: 'contact', t: 0, from: '127.0.0.2' },
      st(10, '127.0.0.2'),
      { op: 'contact', t: 2000, from: '127.0.0.3' },
      st(2010, '127.0.0.3'),
      { op: 'contact', t: 3000, from: '127.0.0.4' },
      st(3010, '127.0.0.4'),
      { op: 'fullcone', t: 3500, want: false },
    ]))

  it('fullcone_2: a statement before any contact → true', () =>
    replay([
      { op: 'contact', t: 0, from: '127.0.0.2' },
      st(10, '127.0.0.2'),
      { op: 'contact', t: 2000, from: '127.0.0.3' },
      st(2010, '127.0.0.3'),
      st(3000, '127.0.0.4'),
      { op: 'contact', t: 3010, from: '127.0.0.4' },
      { op: 'fullcone', t: 3500, want: true },
    ]))
})

describe('IpTracker behaviour', () => {
  it('defaults are geth localnode.go: 10 statements within 5 min, contacts 10 min', () => {
    assert.equal(IPTRACK_MIN_STATEMENTS, 10)
    assert.equal(IPTRACK_WINDOW_MS, 300_000)
    assert.equal(IPTRACK_CONTACT_WINDOW_MS, 600_000)
    let now = 0
    const it = new IpTracker({ now: () => now })
    for (let i = 1; i <= 9; i++) it.addStatement(`10.0.0.${i}`, { ip: '203.0.113.7', port: 30303 })
    assert.equal(it.predictEndpoint(), undefined, '9 statements are not enough')
    it.addStatement('10.0.0.9', { ip: '203.0.113.7', port: 30303 })
    assert.equal(it.predictEndpoint(), undefined, 'the same host counts once')
    now = 299_999
    it.addStatement('10.0.0.10', { ip: '203.0.113.7', port: 30303 })
    assert.deepEqual(it.predictEndpoint(), { ip: '203.0.113.7', port: 30303 })
    now = 300_001 // the nine statements made at 0 are older than 5 min
    assert.equal(it.predictEndpoint(), undefined)
  })

  it('the majority endpoint wins; a host changing its statement moves its vote', () => {
    const it = new IpTracker({ minStatements: 3, now: () => 0 })
    for (const h of ['1.1.1.1', '1.1.1.2', '1.1.1.3']) it.addStatement(h, { ip: '203.0.113.1', port: 1 })
    for (const h of ['2.2.2.1', '2.2.2.2', '2.2.2.3', '2.2.2.4'])
      it.addStatement(h, { ip: '203.0.113.2', port: 2 })
    assert.deepEqual(it.predictEndpoint(), { ip: '203.0.113.2', port: 2 })
    it.addStatement('2.2.2.1', { ip: '203.0.113.1', port: 1 })
    it.addStatement('2.2.2.2', { ip: '203.0.113.1', port: 1 })
    assert.deepEqual(it.predictEndpoint(), { ip: '203.0.113.1', port: 1 })
  })

  it('same IP with different ports are different endpoints', () => {
    const it = new IpTracker({ minStatements: 2, now: () => 0 })
    it.addStatement('1.1.1.1', { ip: '203.0.113.1', port: 1 })
    it.addStatement('1.1.1.2', { ip: '203.0.113.1', port: 2 })
    assert.equal(it.predictEndpoint(), undefined)
  })

  it('IPv4-mapped IPv6 hosts and endpoints are the IPv4 address; non-IPs are ignored', () => {
    assert.equal(canonicalIp('::ffff:10.0.0.1'), '10.0.0.1')
    assert.equal(canonicalIp('not-an-ip'), undefined)
    const it = new IpTracker({ minStatements: 2, now: () => 0 })
    it.addStatement('::ffff:1.1.1.1', { ip: '::ffff:203.0.113.9', port: 5 })
    it.addStatement('1.1.1.1', { ip: '203.0.113.9', port: 5 })
    assert.equal(it.predictEndpoint(), undefined, 'one host')
    it.addStatement('bogus', { ip: '203.0.113.9', port: 5 })
    it.addStatement('1.1.1.2', { ip: 'bogus', port: 5 })
    assert.deepEqual(it.size, { statements: 1, contacts: 0 })
    it.addStatement('1.1.1.2', { ip: '203.0.113.9', port: 5 })
    assert.deepEqual(it.predictEndpoint(), { ip: '203.0.113.9', port: 5 })
  })

  it('a returned prediction is a copy', () => {
    const it = new IpTracker({ minStatements: 1, now: () => 0 })
    it.addStatement('1.1.1.1', { ip: '203.0.113.1', port: 1 })
    const p = it.predictEndpoint()!
    p.port = 99
    assert.equal(it.predictEndpoint()?.port, 1)
  })

  it('contacts expire after the contact window: a later statement then looks unsolicited', () => {
    let now = 0
    const it = new IpTracker({ windowMs: 1000, contactWindowMs: 500, minStatements: 1, now: () => now })
    it.addContact('1.1.1.1')
    now = 400
    it.addStatement('1.1.1.1', { ip: '203.0.113.1', port: 1 })
    assert.equal(it.predictFullConeNat(), false)
    now = 501
    assert.equal(it.predictFullConeNat(), true)
  })

  it('old statements and contacts are collected without predictions (geth TestIPTrackerForceGC)', () => {
    let now = 0
    const window = 10_000
    const rate = 50
    const max = window / rate + 1
    const it = new IpTracker({ windowMs: window, contactWindowMs: window, minStatements: 3, now: () => now })
    const ip = () => [...randomBytes(4)].join('.')
    for (let i = 0; i < 5 * max; i++) {
      const host = ip()
      it.addStatement(host, { ip: ip(), port: 9000 })
      it.addContact(host)
      now += rate
    }
    assert.ok(it.size.statements <= 2 * max, `statements ${it.size.statements}`)
    assert.ok(it.size.contacts <= 2 * max, `contacts ${it.size.contacts}`)
  })
})

describe('localEndpoint (geth lnEndpoint.get)', () => {
  const predicted = () => {
    const it = new IpTracker({ minStatements: 1, now: () => 0 })
    it.addStatement('1.1.1.1', { ip: '203.0.113.5', port: 40404 })
    return it
  }

  it('fallbacks when nothing else', () => {
    assert.deepEqual(localEndpoint({ fallbackIp: '127.0.0.1', fallbackUdp: 30303 }), {
      ip: '127.0.0.1',
      udp: 30303,
    })
    assert.deepEqual(localEndpoint({}), {})
    assert.deepEqual(localEndpoint({ fallbackUdp: 0 }), {})
  })

  it('a prediction replaces IP and port', () => {
    assert.deepEqual(localEndpoint({ fallbackIp: '127.0.0.1', fallbackUdp: 30303 }, predicted()), {
      ip: '203.0.113.5',
      udp: 40404,
    })
  })

  it('a static IP wins over the prediction and keeps the fallback port', () => {
    assert.deepEqual(localEndpoint({ staticIp: '198.51.100.1', fallbackUdp: 30303 }, predicted()), {
      ip: '198.51.100.1',
      udp: 30303,
    })
  })
})
