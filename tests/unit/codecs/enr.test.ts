// ENR codec: round trips, hostile bytes, geth's structural rules, typed entries, toNode preference, IP text.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { bytesToHex, hexToBytes } from '../../../codecs/bytes.ts'
import {
  createEnr,
  decodeEnr,
  ENR_MAX_SIZE,
  type Enr,
  enrGet,
  enrGetRaw,
  enrNodeId,
  enrToNode,
  enrToText,
  formatIp,
  parseEnrText,
  parseIp,
  updateEnr,
  verifyEnr,
} from '../../../codecs/enr.ts'
import { DecodeError } from '../../../codecs/errors.ts'
import { rlpDecodeRawList, rlpEncode, rlpEncodeRawList } from '../../../codecs/rlp.ts'
import { keccak256 } from '../../../crypto/keccak.ts'
import { nodeIdOf, SECP256K1_N } from '../../../crypto/keys.ts'
import { publicKeyOf } from '../../../crypto/secp256k1.ts'

const KEY = hexToBytes('b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291')
const EXAMPLE =
  'enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8'

const code = (c: string) => (e: unknown) => e instanceof DecodeError && e.code === c
const decodesOrDecodeError = (f: () => unknown) => {
  try {
    f()
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e
  }
}

/** A record with arbitrary (unsorted, unsigned) raw elements, for structural tests. */
function rawRecord(sig: Uint8Array, seq: number, kv: [string, Uint8Array][]): Uint8Array {
  return rlpEncodeRawList([rlpEncode(sig), rlpEncode(seq), ...kv.flatMap(([k, v]) => [rlpEncode(k), v])])
}

const arbIp4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map(formatIp)
const arbIp6 = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .filter((b) => !(b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff))
  .map(formatIp)
const arbPort = fc.integer({ min: 0, max: 0xffff })
const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((s) => keccak256(s))

describe('ENR round trips', () => {
  it('createEnr → text → parseEnrText keeps every field and verifies', () => {
    fc.assert(
      fc.property(
        arbKey,
        fc.record(
          {
            seq: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
            ip: arbIp4,
            ip6: arbIp6,
            tcp: arbPort,
            udp: arbPort,
            tcp6: arbPort,
            udp6: arbPort,
            eth: fc.record({
              hash: fc.uint8Array({ minLength: 4, maxLength: 4 }),
              next: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
            }),
          },
          { requiredKeys: ['seq'] },
        ),
        (priv, init) => {
          const r = createEnr(priv, init)
          const back = parseEnrText(enrToText(r))
          assert.equal(bytesToHex(back.raw), bytesToHex(r.raw))
          assert.equal(back.seq, init.seq)
          for (const k of ['ip', 'ip6', 'tcp', 'udp', 'tcp6', 'udp6'] as const)
            assert.equal(enrGet(back, k), init[k])
          if (init.eth) {
            assert.equal(bytesToHex(enrGet(back, 'eth')!.hash), bytesToHex(init.eth.hash))
            assert.equal(enrGet(back, 'eth')!.next, init.eth.next)
          }
          assert.equal(enrGet(back, 'id'), 'v4')
          assert.equal(bytesToHex(enrNodeId(back)), bytesToHex(nodeIdOf(publicKeyOf(priv))))
          const keys = [...back.pairs.keys()]
          assert.deepEqual(keys, [...keys].sort())
        },
      ),
      { numRuns: 150 },
    )
  })

  it('unknown keys are preserved as given, in key order', () => {
    const foo = rlpEncode('bar')
    const list = rlpEncode([1, [2, 3]])
    const r = createEnr(KEY, { udp: 1, other: { zz: list, foo, a: rlpEncode(7) } })
    const back = decodeEnr(r.raw)
    assert.deepEqual([...back.pairs.keys()], ['a', 'foo', 'id', 'secp256k1', 'udp', 'zz'])
    assert.equal(bytesToHex(enrGetRaw(back, 'foo')!), bytesToHex(foo))
    assert.equal(bytesToHex(enrGetRaw(back, 'zz')!), bytesToHex(list))
    assert.throws(() => createEnr(KEY, { other: { bad: Uint8Array.of(0x82, 1) } }), DecodeError)
  })

  it('updateEnr bumps seq, sets and removes entries, keeps the rest, re-signs', () => {
    const r = decodeEnr(parseEnrText(EXAMPLE).raw)
    const u = updateEnr(r, KEY, { tcp: 30303, ip: '10.0.0.1', remove: ['udp'] })
    assert.equal(u.seq, 2n)
    verifyEnr(u)
    assert.equal(enrGet(u, 'ip'), '10.0.0.1')
    assert.equal(enrGet(u, 'tcp'), 30303)
    assert.equal(enrGet(u, 'udp'), undefined)
    assert.equal(bytesToHex(enrNodeId(u)), bytesToHex(enrNodeId(r)))
  })

  it('eth entry accepts extra trailing elements (geth enrEntry tail)', () => {
    const eth = rlpEncode([[hexToBytes('fc64ec04'), 1150000], 'future'])
    const r = createEnr(KEY, { other: { eth } })
    const id = enrGet(r, 'eth')!
    assert.equal(bytesToHex(id.hash), 'fc64ec04')
    assert.equal(id.next, 1150000n)
  })
})

describe('ENR limits and structure', () => {
  it(`rejects records over ${ENR_MAX_SIZE} bytes when encoding and decoding`, () => {
    assert.throws(
      () => createEnr(KEY, { other: { big: rlpEncode(new Uint8Array(200)) } }),
      code('ENR_TOO_BIG'),
    )
    const ok = createEnr(KEY, { other: { big: rlpEncode(new Uint8Array(100)) } })
    assert.ok(ok.raw.length <= ENR_MAX_SIZE)
    const big = rawRecord(new Uint8Array(64), 1, [['a', rlpEncode(new Uint8Array(240))]])
    assert.ok(big.length > ENR_MAX_SIZE)
    assert.throws(() => decodeEnr(big, { verify: false }), code('ENR_TOO_BIG'))
  })

  it('rejects unsorted and duplicate keys', () => {
    const v = rlpEncode(1)
    assert.throws(
      () =>
        decodeEnr(
          rawRecord(new Uint8Array(1), 1, [
            ['b', v],
            ['a', v],
          ]),
          { verify: false },
        ),
      (e) => code('ENR_UNSORTED_KEYS')(e) && (e as Error).message.includes('not sorted'),
    )
    assert.throws(
      () =>
        decodeEnr(
          rawRecord(new Uint8Array(1), 1, [
            ['a', v],
            ['a', v],
          ]),
          { verify: false },
        ),
      (e) => code('ENR_UNSORTED_KEYS')(e) && (e as Error).message.includes('duplicate key'),
    )
  })

  it('text form: line breaks are skipped like Go base64; padding and other characters are rejected', () => {
    const r = parseEnrText(EXAMPLE)
    assert.equal(enrToText(parseEnrText(`${EXAMPLE.slice(0, 30)}\r\n${EXAMPLE.slice(30)}`)), enrToText(r))
    assert.throws(() => parseEnrText(`${EXAMPLE}=`), code('BAD_ENR'))
    assert.throws(() => parseEnrText(`${EXAMPLE.slice(0, 20)}+${EXAMPLE.slice(21)}`), code('BAD_ENR'))
    assert.throws(() => parseEnrText(`ENR:${EXAMPLE.slice(4)}`), code('BAD_ENR'))
  })

  it('rejects a list signature, a list key, an over-long seq and trailing bytes', () => {
    const v = rlpEncode(1)
    assert.throws(() => decodeEnr(rlpEncodeRawList([rlpEncode([]), v]), { verify: false }), DecodeError)
    assert.throws(
      () => decodeEnr(rlpEncodeRawList([v, v, rlpEncode([1]), v]), { verify: false }),
      code('RLP_UNEXPECTED_TYPE'),
    )
    assert.throws(
      () => decodeEnr(rlpEncodeRawList([v, rlpEncode(new Uint8Array(9).fill(1))]), { verify: false }),
      code('INT_TOO_LARGE'),
    )
    const ok = parseEnrText(EXAMPLE).raw
    assert.throws(() => decodeEnr(Uint8Array.of(...ok, 0)), code('RLP_TRAILING_BYTES'))
  })

  it('rejects unknown schemes, missing keys, bad and high-s signatures', () => {
    const r = parseEnrText(EXAMPLE)
    const elems = rlpDecodeRawList(r.raw)
    // high s: (r, N - s) verifies as plain ECDSA but geth rejects it
    const sig = r.signature
    let s = 0n
    for (const x of sig.subarray(32)) s = (s << 8n) | BigInt(x)
    const high = Uint8Array.of(
      ...sig.subarray(0, 32),
      ...hexToBytes((SECP256K1_N - s).toString(16).padStart(64, '0')),
    )
    assert.throws(
      () => decodeEnr(rlpEncodeRawList([rlpEncode(high), ...elems.slice(1)])),
      code('ENR_BAD_SIGNATURE'),
    )
    // unknown scheme
    const v5 = rawRecord(sig, 1, [['id', rlpEncode('v5')]])
    assert.throws(() => decodeEnr(v5), code('ENR_UNKNOWN_SCHEME'))
    assert.throws(() => enrNodeId(decodeEnr(v5, { verify: false })), code('ENR_UNKNOWN_SCHEME'))
    // no id at all
    assert.throws(() => decodeEnr(rawRecord(sig, 1, [])), code('ENR_UNKNOWN_SCHEME'))
    // v4 without a key
    assert.throws(() => decodeEnr(rawRecord(sig, 1, [['id', rlpEncode('v4')]])), code('BAD_ENR'))
    // seq changed → signature no longer matches
    const seq2 = rlpEncodeRawList([elems[0]!, rlpEncode(2), ...elems.slice(2)])
    assert.throws(() => decodeEnr(seq2), code('ENR_BAD_SIGNATURE'))
    assert.equal(decodeEnr(seq2, { verify: false }).seq, 2n)
  })

  it('typed accessors reject malformed values; toNode ignores them like geth', () => {
    const r = createEnr(KEY, {
      ip: '1.2.3.4',
      other: { tcp: rlpEncode(0x10000), udp: Uint8Array.of(0x82, 0, 5), ip6: rlpEncode(Uint8Array.of(1, 2)) },
    })
    assert.throws(() => enrGet(r, 'tcp'), code('INT_TOO_LARGE'))
    assert.throws(() => enrGet(r, 'udp'), code('INT_LEADING_ZERO'))
    assert.throws(() => enrGet(r, 'ip6'), code('BAD_ENR'))
    const n = enrToNode(r)
    assert.equal(n.ip, '1.2.3.4')
    assert.equal(n.tcp, undefined)
    assert.equal(n.udp, undefined)
  })
})

describe('ENR hostile input', () => {
  it('random bytes and random text throw DecodeError only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 320 }), fc.string({ maxLength: 80 }), (b, s) => {
        decodesOrDecodeError(() => decodeEnr(b))
        decodesOrDecodeError(() => decodeEnr(b, { verify: false }))
        decodesOrDecodeError(() => parseEnrText(`enr:${s}`))
        decodesOrDecodeError(() => parseEnrText(s))
      }),
      { numRuns: 2000 },
    )
  })

  it('mutated records (bit flips, truncation) decode or throw DecodeError; flips never verify', () => {
    const raw = parseEnrText(EXAMPLE).raw
    fc.assert(
      fc.property(
        fc.nat(raw.length - 1),
        fc.integer({ min: 0, max: 7 }),
        fc.nat(raw.length),
        (at, bit, cut) => {
          const m = raw.slice()
          m[at]! ^= 1 << bit
          assert.throws(() => decodeEnr(m), DecodeError)
          decodesOrDecodeError(() => decodeEnr(m, { verify: false }))
          if (cut < raw.length) assert.throws(() => decodeEnr(raw.subarray(0, cut)), DecodeError)
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('enrToNode endpoint preference (geth newNodeWithID)', () => {
  const node = (init: Parameters<typeof createEnr>[1]) => enrToNode(createEnr(KEY, init))
  it('prefers the more global address; IPv4 on ties; IPv6 ports fall back to IPv4 ports', () => {
    let n = node({ ip: '192.168.1.1', ip6: '2001:db8::1', tcp: 1, udp: 2, tcp6: 3, udp6: 4 })
    assert.deepEqual([n.ip, n.tcp, n.udp], ['2001:db8::1', 3, 4])
    n = node({ ip: '127.0.0.1', ip6: '::1', tcp: 1, udp: 2, tcp6: 3 })
    assert.deepEqual([n.ip, n.tcp, n.udp], ['127.0.0.1', 1, 2])
    n = node({ ip: '10.0.0.1', ip6: 'fe80::1', tcp: 1, udp: 2, tcp6: 3 })
    assert.deepEqual([n.ip, n.tcp, n.udp], ['10.0.0.1', 1, 2])
    n = node({ ip6: '2001:db8::1', tcp: 1, udp: 2, udp6: 5 })
    assert.deepEqual([n.ip, n.tcp, n.udp], ['2001:db8::1', 1, 5])
  })
  it('ignores multicast addresses and maps 4-in-6 to IPv4', () => {
    let n = node({ ip: '224.0.0.1', ip6: '2001:db8::1', udp: 2 })
    assert.equal(n.ip, '2001:db8::1')
    n = node({ ip: '224.0.0.1', udp: 2, tcp: 3 })
    assert.deepEqual([n.ip, n.tcp, n.udp], [undefined, 3, 2])
    n = node({ ip6: '::ffff:1.2.3.4', tcp: 1, tcp6: 9 })
    assert.deepEqual([n.ip, n.tcp], ['1.2.3.4', 1])
  })
  it('carries id, pubkey and the record', () => {
    const r: Enr = createEnr(KEY, { ip: '1.2.3.4' })
    const n = enrToNode(r)
    assert.equal(n.record, r)
    assert.equal(bytesToHex(n.pubkey), bytesToHex(publicKeyOf(KEY)))
    assert.equal(bytesToHex(n.id), bytesToHex(nodeIdOf(n.pubkey)))
  })
})

describe('IP text (Go net.ParseIP / net.IP.String)', () => {
  it('formats IPv6 like RFC 5952 / WHATWG URL serialisation and parses it back', () => {
    fc.assert(
      fc.property(arbIp6, (text) => {
        assert.equal(text, new URL(`http://[${text}]/`).hostname.slice(1, -1))
        assert.equal(formatIp(parseIp(text)!), text)
      }),
      { numRuns: 2000 },
    )
  })
  it('IPv4 dotted quads round trip; leading zeros and junk are rejected', () => {
    fc.assert(
      fc.property(arbIp4, (t) => assert.equal(formatIp(parseIp(t)!), t)),
      { numRuns: 500 },
    )
    for (const bad of [
      '01.2.3.4',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1.2.3.4 ',
      'a.b.c.d',
      ':::',
      '1:2',
      '::1::',
      'fe80::1%eth0',
      '12345::',
      '',
    ])
      assert.equal(parseIp(bad), null, bad)
    assert.equal(formatIp(parseIp('::ffff:1.2.3.4')!), '1.2.3.4')
    assert.equal(formatIp(parseIp('1:0:0:1:0:0:0:1')!), '1:0:0:1::1')
    assert.equal(formatIp(parseIp('1:2:3:4:5:6:7::')!), '1:2:3:4:5:6:7:0')
    assert.equal(bytesToHex(parseIp('::1.2.3.4')!), `${'00'.repeat(12)}01020304`)
  })
})
