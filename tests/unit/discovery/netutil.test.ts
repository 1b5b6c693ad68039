import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  checkRelayAddr,
  DistinctNetSet,
  ipTo16,
  isLan,
  isLoopback,
  isSpecialNetwork,
  isUnspecified,
  Netlist,
  parseAddr,
  subnetKey,
} from '../../../actors/discovery/netutil.ts'
import { formatIp } from '../../../codecs/enr.ts'

test('parseAddr: IPv4, IPv6, IPv4-mapped unmapped, Go ParseIP rejections', () => {
  assert.deepEqual(parseAddr('1.2.3.4'), new Uint8Array([1, 2, 3, 4]))
  assert.deepEqual(parseAddr('::ffff:1.2.3.4'), new Uint8Array([1, 2, 3, 4]))
  assert.equal(parseAddr('::1')!.length, 16)
  assert.equal(formatIp(parseAddr('fe80::1')!), 'fe80::1')
  assert.equal(formatIp(parseAddr('1:2:3:4:5:6:7.8.9.10')!), '1:2:3:4:5:6:708:90a')
  for (const bad of ['', 'x', '1.2.3', '1.2.3.256', '01.2.3.4', ':::', 'fe80::1%eth0', undefined])
    assert.equal(parseAddr(bad), undefined, String(bad))
  assert.deepEqual(
    ipTo16(parseAddr('1.2.3.4')!),
    new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]),
  )
})

test('LAN / loopback / special classification as geth netutil', () => {
  const lan = [
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.3.4',
    '::1',
    'fe80::1',
    'fd00::1',
    '::ffff:10.0.0.1',
  ]
  const wan = ['11.22.33.44', '172.32.0.1', '192.169.0.1', '2a00::1', '1.1.1.1']
  for (const ip of lan) assert.equal(isLan(ip), true, ip)
  for (const ip of wan) assert.equal(isLan(ip), false, ip)
  assert.equal(isLoopback('127.5.5.5'), true)
  assert.equal(isLoopback('10.0.0.1'), false)
  assert.equal(isUnspecified('0.0.0.0'), true)
  assert.equal(isUnspecified('::'), true)
  assert.equal(isUnspecified('0.0.0.1'), false)
  const special = [
    '0.1.2.3',
    '192.0.2.1',
    '198.51.100.9',
    '203.0.113.1',
    '255.255.255.255',
    '224.0.0.1',
    '198.19.1.1',
    'ff02::1',
    '2001:db8::1',
    '2002::1',
  ]
  for (const ip of special) assert.equal(isSpecialNetwork(ip), true, ip)
  for (const ip of [...wan, '127.0.0.1', '10.0.0.1']) assert.equal(isSpecialNetwork(ip), false, ip)
})

test('checkRelayAddr: the four relay rules of geth CheckRelayAddr', () => {
  const cases: Array<[string, string, ReturnType<typeof checkRelayAddr>]> = [
    ['11.22.33.44', 'bogus', 'INVALID_IP'],
    ['11.22.33.44', '0.0.0.0', 'UNSPECIFIED'],
    ['11.22.33.44', '192.0.2.5', 'SPECIAL_NETWORK'],
    ['127.0.0.1', '224.0.0.1', 'SPECIAL_NETWORK'],
    ['11.22.33.44', '127.0.0.1', 'LOOPBACK_FROM_WAN'],
    ['10.0.0.1', '127.0.0.1', 'LOOPBACK_FROM_WAN'],
    ['127.0.0.1', '127.0.0.2', null],
    ['11.22.33.44', '10.0.0.1', 'LAN_FROM_WAN'],
    ['192.168.0.1', '10.0.0.1', null],
    ['127.0.0.1', '10.0.0.1', null],
    ['11.22.33.44', '1.1.1.1', null],
    ['10.0.0.1', '1.1.1.1', null],
  ]
  for (const [sender, addr, want] of cases)
    assert.equal(checkRelayAddr(sender, addr), want, `${sender} → ${addr}`)
})

test('subnetKey and Netlist prefixes', () => {
  assert.equal(subnetKey('1.2.3.4', 24), '1.2.3.0/24')
  assert.equal(subnetKey('1.2.3.4', 20), '1.2.0.0/20')
  assert.equal(subnetKey('1.2.255.4', 20), '1.2.240.0/20')
  assert.equal(subnetKey('2a00:1234:5678::1', 24), '2a00:1200::/24')
  assert.equal(subnetKey('nope', 24), undefined)
  const l = new Netlist(['10.0.0.0/8', '2001:db8::/32'])
  assert.equal(l.contains('10.200.1.1'), true)
  assert.equal(l.contains('11.0.0.1'), false)
  assert.equal(l.contains('2001:db8:1::1'), true)
  assert.throws(() => l.add('10.0.0.0/33'), RangeError)
})

test('DistinctNetSet limits addresses per subnet (geth DistinctNetSet)', () => {
  const s = new DistinctNetSet(24, 2)
  assert.equal(s.add('1.2.3.4'), true)
  assert.equal(s.add('1.2.3.5'), true)
  assert.equal(s.add('1.2.3.6'), false)
  assert.equal(s.add('1.2.4.6'), true)
  assert.equal(s.add('invalid'), false)
  assert.equal(s.len(), 3)
  assert.equal(s.contains('1.2.3.200'), true)
  assert.equal(s.contains('1.2.5.1'), false)
  s.remove('1.2.3.4')
  assert.equal(s.add('1.2.3.7'), true)
  assert.equal(s.len(), 3)
  assert.equal(s.toString(), '{1.2.3.0/24×2 1.2.4.0/24×1}')
  s.remove('1.2.4.6')
  s.remove('1.2.4.6')
  assert.equal(s.contains('1.2.4.6'), false)
  assert.equal(s.len(), 2)
})
