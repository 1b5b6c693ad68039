// EIP-1459 lists over real DNS queries (actors/dnsdisc.ts through node:dns) and the `dns sync` command, against
// a DNS server of our own on 127.0.0.1 (tests/helpers/dns-server.ts) serving the EIP's example zone and a tree
// built here. The zone lives under the reserved `.test` TLD and the resolver asks only our server.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { DnsLookupError, dnsTxtLookup, syncDnsList } from '../../actors/dnsdisc.ts'
import { hexToBytes } from '../../codecs/bytes.ts'
import { dnsSubdomain, formatEnrTreeUrl } from '../../codecs/dnsdisc.ts'
import { createEnr, enrToText } from '../../codecs/enr.ts'
import { DecodeError } from '../../codecs/errors.ts'
import { rlpEncode } from '../../codecs/rlp.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey, publicKeyOf, sign } from '../../crypto/secp256k1.ts'
import { assertFails, run } from '../helpers/cli.ts'
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts'

const v = JSON.parse(readFileSync(new URL('../vectors/dnsdisc.json', import.meta.url), 'utf8'))
const signerKey = hexToBytes(v.example_tree.root_signer.private_key)
const DOMAIN = 'nodes.devp2p.test'
const BIG = 'big.devp2p.test'
const TREE_URL = formatEnrTreeUrl(DOMAIN, publicKeyOf(signerKey))
const BIG_URL = formatEnrTreeUrl(BIG, publicKeyOf(signerKey))

/** one ENR whose `enr:` text (≈ 300 characters) needs two TXT character-strings */
const bigRecord = createEnr(generatePrivateKey(), {
  ip: '127.0.0.1',
  udp: 30303,
  other: { pad: rlpEncode(new Uint8Array(120)) },
})

function buildZone(): Map<string, string[]> {
  const zone = new Map<string, string[]>()
  // the EIP's example zone (the root signature covers the root text only, so it can live under any domain)
  for (const r of v.example_tree.records as { name: string; content: string }[])
    zone.set(r.name === '@' ? DOMAIN : `${r.name.toLowerCase()}.${DOMAIN}`, [r.content])
  // a one-node tree of our own: the ENR text needs two TXT chunks
  const enrText = enrToText(bigRecord)
  const empty = 'enrtree-branch:'
  const signed = `enrtree-root:v1 e=${dnsSubdomain(enrText)} l=${dnsSubdomain(empty)} seq=7`
  const sig = Buffer.from(sign(keccak256(new TextEncoder().encode(signed)), signerKey)).toString('base64url')
  zone.set(BIG, [`${signed} sig=${sig}`])
  zone.set(`${dnsSubdomain(enrText).toLowerCase()}.${BIG}`, [enrText])
  zone.set(`${dnsSubdomain(empty).toLowerCase()}.${BIG}`, [empty])
  return zone
}

describe('EIP-1459 lists over DNS on 127.0.0.1', () => {
  let dns: TestDnsServer
  let server: string
  before(async () => {
    dns = await startDnsServer(buildZone())
    server = `127.0.0.1:${dns.port}`
  })
  after(() => dns.close())

  it('syncDnsList resolves and verifies the example zone: seq, three ENRs, the link; six queries', async () => {
    const before = dns.queries.length
    const tree = await syncDnsList(TREE_URL, { servers: [server] })
    assert.equal(tree.seq, 1)
    assert.deepEqual(tree.nodes.map(enrToText).sort(), [...v.example_tree.sync_expectations.nodes].sort())
    assert.deepEqual(tree.links, v.example_tree.sync_expectations.links)
    const asked = dns.queries.slice(before)
    assert.equal(asked.length, 6, asked.join(' '))
    assert.ok(asked.every((q) => q.toLowerCase().endsWith(DOMAIN)))
  })

  it('a TXT record split into character-strings is joined (a 300-character ENR)', async () => {
    assert.ok(enrToText(bigRecord).length > 255)
    const tree = await syncDnsList(BIG_URL, { servers: [server] })
    assert.equal(tree.seq, 7)
    assert.deepEqual(tree.nodes.map(enrToText), [enrToText(bigRecord)])
    assert.deepEqual(tree.links, [])
  })

  it('a name without records answers []; a missing tree fails with DNS_NO_ROOT', async () => {
    assert.deepEqual(await dnsTxtLookup({ servers: [server] })(`nothing.${DOMAIN}`), [])
    const other = formatEnrTreeUrl(`missing.${DOMAIN}`, publicKeyOf(signerKey))
    await assert.rejects(
      syncDnsList(other, { servers: [server] }),
      (e) => e instanceof DecodeError && e.code === 'DNS_NO_ROOT',
    )
  })

  it('no answer from the server → DnsLookupError (LOOKUP_FAILED), bounded by the timeout', async () => {
    const silent = await startDnsServer(new Map())
    await silent.close() // nothing listens there now
    const t0 = Date.now()
    await assert.rejects(
      dnsTxtLookup({ servers: [`127.0.0.1:${silent.port}`], timeoutMs: 200, tries: 1 })(DOMAIN),
      (e) => e instanceof DnsLookupError && e.code === 'LOOKUP_FAILED' && e.query === DOMAIN,
    )
    assert.ok(Date.now() - t0 < 5_000)
  })

  it('`dns sync` prints the list, or JSON; a bad URL is one clear error line', async () => {
    const text = await run('dns', 'sync', TREE_URL, '--server', server)
    assert.equal(text.code, 0, text.stderr)
    const lines = text.stdout.trim().split('\n')
    assert.equal(lines[0], `${TREE_URL}: seq 1, 3 nodes, 1 links`)
    assert.equal(lines.filter((l) => l.startsWith('node ')).length, 3)
    assert.equal(lines.at(-1), `link ${v.example_tree.sync_expectations.links[0]}`)
    const json = await run('dns', 'sync', TREE_URL, '--server', server, '--json')
    assert.equal(json.code, 0, json.stderr)
    const parsed = JSON.parse(json.stdout)
    assert.equal(parsed.seq, 1)
    assert.deepEqual(
      parsed.nodes.map((n: { enr: string }) => n.enr).sort(),
      [...v.example_tree.sync_expectations.nodes].sort(),
    )
    assert.match(parsed.nodes[0].enode, /^enode:\/\/[0-9a-f]{128}/)
    assertFails(await run('dns', 'sync', 'https://example.org', '--server', server), /wrong\/missing scheme/)
  })
})
