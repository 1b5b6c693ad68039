// enode URLs: format ∘ parse round trips, geth's accept/reject edge cases, hostile strings.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { bytesToHex } from '../../../codecs/bytes.ts'
import { formatEnode, parseEnode, parseNode } from '../../../codecs/enode.ts'
import { createEnr, enrToText, formatIp } from '../../../codecs/enr.ts'
import { DecodeError } from '../../../codecs/errors.ts'
import { keccak256 } from '../../../crypto/keccak.ts'
import { nodeIdOf } from '../../../crypto/keys.ts'
import { publicKeyOf } from '../../../crypto/secp256k1.ts'

const PUB =
  '1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439'
const bad = (input: string, text: string) =>
  assert.throws(
    () => parseNode(input),
    (e) => e instanceof DecodeError && e.code === 'BAD_ENODE' && e.message.includes(text),
    input,
  )

const arbPub = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((s) => publicKeyOf(keccak256(s)))
const arbIp = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }).filter((b) => (b[0]! & 0xf0) !== 0xe0),
  fc
    .uint8Array({ minLength: 16, maxLength: 16 })
    .filter(
      (b) => b[0] !== 0xff && !(b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff),
    ),
)
const arbPort = fc.integer({ min: 0, max: 0xffff })

describe('enode round trips', () => {
  it('format → parse → format is the identity for IP nodes', () => {
    fc.assert(
      fc.property(arbPub, arbIp, arbPort, arbPort, (pubkey, ipb, tcp, udp) => {
        const ip = formatIp(ipb)
        const url = formatEnode({ pubkey, ip, tcp, udp })
        const n = parseNode(url)
        assert.equal(bytesToHex(n.pubkey), bytesToHex(pubkey))
        assert.equal(bytesToHex(n.id), bytesToHex(nodeIdOf(pubkey)))
        assert.deepEqual([n.ip, n.tcp, n.udp, n.hostname], [ip, tcp, udp, undefined])
        assert.equal(formatEnode(n), url)
      }),
      { numRuns: 300 },
    )
  })
  it('hostnames are kept, not resolved', () => {
    const n = parseNode(`enode://${PUB}@bootnode.example.org:30303?discport=30301`)
    assert.deepEqual([n.hostname, n.ip, n.tcp, n.udp], ['bootnode.example.org', undefined, 30303, 30301])
    assert.equal(formatEnode(n), `enode://${PUB}@bootnode.example.org:30303?discport=30301`)
  })
  it('incomplete forms: parseEnode (geth ParseV4) takes bare hex, parseNode (geth Parse) does not', () => {
    assert.equal(bytesToHex(parseEnode(PUB).pubkey), PUB)
    assert.equal(bytesToHex(parseEnode(`enode://${PUB.toUpperCase()}`).pubkey), PUB)
    const n = parseNode(`enode://${PUB}`)
    assert.deepEqual([n.ip, n.tcp, n.udp], [undefined, undefined, undefined])
    assert.equal(formatEnode(n), `enode://${PUB}`)
    bad(PUB, "missing 'enr:' prefix")
  })
  it('parseNode also takes enr: records', () => {
    const key = keccak256(Uint8Array.of(1))
    const n = parseNode(enrToText(createEnr(key, { ip: '10.1.2.3', tcp: 30303, udp: 30301 })))
    assert.deepEqual([n.ip, n.tcp, n.udp], ['10.1.2.3', 30303, 30301])
    assert.equal(formatEnode(n), `enode://${bytesToHex(publicKeyOf(key))}@10.1.2.3:30303?discport=30301`)
  })
})

describe('enode edge cases (geth ParseV4 / url.Parse)', () => {
  it('ports and discport', () => {
    bad(`enode://${PUB}@127.0.0.1`, 'invalid port')
    bad(`enode://${PUB}@127.0.0.1:`, 'invalid port')
    bad(`enode://${PUB}@127.0.0.1:65536`, 'invalid port')
    bad(`enode://${PUB}@127.0.0.1:-1`, 'invalid port')
    bad(`enode://${PUB}@127.0.0.1:1?discport=65536`, 'invalid discport in query')
    bad(`enode://${PUB}@127.0.0.1:1?discport=-1`, 'invalid discport in query')
    assert.equal(parseNode(`enode://${PUB}@127.0.0.1:1?foo=bar&discport=7`).udp, 7)
    assert.equal(parseNode(`enode://${PUB}@127.0.0.1:1?discport=`).udp, 1)
    assert.equal(parseNode(`enode://${PUB}@127.0.0.1:0`).tcp, 0)
    assert.equal(parseNode(`enode://${PUB}@127.0.0.1:030303`).tcp, 30303)
    assert.equal(parseNode(`enode://${PUB}@127.0.0.1:30303#frag`).tcp, 30303)
  })
  it('public keys', () => {
    bad(`enode://${PUB.slice(2)}@1.2.3.4:1`, 'wrong length, want 128 hex chars')
    bad(`enode://${PUB.slice(1)}@1.2.3.4:1`, 'invalid public key')
    bad(`enode://${'00'.repeat(64)}@1.2.3.4:1`, 'invalid public key')
    bad(`enode://${PUB.slice(2)}zz@1.2.3.4:1`, 'invalid public key')
    bad('enode://1.2.3.4:1', 'does not contain node ID')
  })
  it('hosts: IPv4-mapped IPv6 becomes IPv4, multicast is dropped, junk is rejected', () => {
    assert.equal(parseNode(`enode://${PUB}@[::ffff:1.2.3.4]:1`).ip, '1.2.3.4')
    const m = parseNode(`enode://${PUB}@224.0.0.1:1`)
    assert.deepEqual([m.ip, m.hostname, m.tcp], [undefined, undefined, 1])
    assert.equal(parseNode(`enode://${PUB}@[2001:DB8::1]:1`).ip, '2001:db8::1')
    bad(`enode://${PUB}@[::1:1`, "missing ']'")
    bad(`enode://${PUB}@[::1]x:1`, 'invalid port')
    bad(`enode://${PUB}@a b:1`, 'invalid character')
    bad(`enode://${PUB}@a\u0001b:1`, 'control character')
    bad('ENODE://x', "missing 'enr:' prefix")
  })
  it('random and mutated strings throw DecodeError only', () => {
    const good = `enode://${PUB}@[2001:db8::1]:30303?discport=30301`
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.nat(good.length),
        fc.string({ maxLength: 3 }),
        (s, at, ins) => {
          for (const input of [
            s,
            `enode://${s}`,
            `enode://${PUB}@${s}`,
            good.slice(0, at) + ins + good.slice(at),
          ]) {
            try {
              parseNode(input)
            } catch (e) {
              if (!(e instanceof DecodeError)) throw e
            }
          }
        },
      ),
      { numRuns: 2000 },
    )
  })
})
