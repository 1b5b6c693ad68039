// EIP-1459 DNS discovery against dnsdisc.json (the spec's example URL and zone, go-ethereum's TestParseRoot,
// TestParseEntry, TestClientSyncTree and TestClientSyncTreeBadNode), on both crypto paths; plus hostile trees.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes } from '../../codecs/bytes.ts'
import {
  base32Decode,
  base32Encode,
  dnsSubdomain,
  formatEnrTreeUrl,
  type LookupTxt,
  parseDnsEntry,
  parseDnsRoot,
  parseEnrTreeUrl,
  syncDnsTree,
  verifyDnsRoot,
} from '../../codecs/dnsdisc.ts'
import { enrNodeId, enrToText } from '../../codecs/enr.ts'
import { DecodeError } from '../../codecs/errors.ts'
import { setCryptoBackend } from '../../crypto/backend.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { compressPublicKey, publicKeyOf, sign } from '../../crypto/secp256k1.ts'

const v = JSON.parse(readFileSync(new URL('./dnsdisc.json', import.meta.url), 'utf8'))
const tree = v.example_tree
const signer = tree.root_signer
const utf8 = (s: string) => new TextEncoder().encode(s)

/** the zone as a TXT lookup: `@` is the domain itself, every other name is `<name>.<domain>` */
function zone(records: { name: string; content: string }[], domain?: string): LookupTxt & { asked: string[] } {
  const byName = new Map<string, string[]>()
  for (const r of records) {
    const name = domain === undefined ? r.name : r.name === '@' ? domain : `${r.name}.${domain}`
    byName.set(name, [...(byName.get(name) ?? []), r.content])
  }
  const asked: string[] = []
  return Object.assign(
    async (name: string) => {
      asked.push(name)
      return byName.get(name) ?? []
    },
    { asked },
  )
}

/** the message of a DecodeError without its code prefix: geth's error text */
const gethText = (e: unknown) => {
  assert.ok(e instanceof DecodeError, String(e))
  return e.message.slice(e.code.length + 2)
}

for (const backend of ['fast', 'noble'] as const) {
  describe(`EIP-1459 DNS discovery vectors [${backend}]`, () => {
    const on = (f: () => unknown) => async () => {
      setCryptoBackend(backend)
      try {
        await f()
      } finally {
        setCryptoBackend('fast')
      }
    }

    it(
      'the example enrtree:// URL decodes to its key and formats back; the key the spec prints is the tree signer',
      on(() => {
        const u = v.example_url
        const { domain, pubkey } = parseEnrTreeUrl(u.url)
        assert.equal(domain, u.domain)
        assert.equal(bytesToHex(pubkey), u.public_key)
        assert.equal(bytesToHex(compressPublicKey(pubkey)), u.public_key_compressed)
        assert.equal(formatEnrTreeUrl(domain, pubkey), u.url)
        // the discrepancy the vector file records: the spec's printed key is the signer of the example zone
        const spec = formatEnrTreeUrl('n', hexToBytes(u.spec_stated_public_key))
        assert.equal(spec, signer.url_for_sync)
      }),
    )

    it(
      'every example record is named by the base32 of its keccak256 prefix',
      on(() => {
        const hashed = tree.records.filter((r: { hash_verified?: boolean }) => r.hash_verified)
        assert.equal(hashed.length, 5)
        for (const r of hashed) assert.equal(dnsSubdomain(r.content), r.name)
      }),
    )

    it(
      'the example root parses; its signature is RFC 6979 over the signed text and verifies for the signer only',
      on(() => {
        const root = parseDnsRoot(tree.records[0].content)
        assert.equal(root.seq, 1)
        assert.equal(root.signed, tree.signed_root_text)
        assert.equal(bytesToHex(root.sig), tree.root_signature_hex_helper)
        const hash = keccak256(utf8(root.signed))
        assert.equal(bytesToHex(hash), tree.root_signing_hash_helper)
        const key = hexToBytes(signer.private_key)
        assert.equal(bytesToHex(compressPublicKey(publicKeyOf(key))), signer.public_key_compressed)
        assert.equal(bytesToHex(sign(hash, key)), tree.root_signature_hex_helper)
        assert.equal(verifyDnsRoot(root, publicKeyOf(key)), true)
        assert.equal(verifyDnsRoot(root, parseEnrTreeUrl(v.example_url.url).pubkey), false)
        // geth ignores the recovery id, and refuses a high s
        const flipped = { ...root, sig: Uint8Array.from(root.sig) }
        flipped.sig[64] ^= 1
        assert.equal(verifyDnsRoot(flipped, publicKeyOf(key)), true)
        const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
        const s = BigInt(`0x${bytesToHex(root.sig.subarray(32, 64))}`)
        const high = { ...root, sig: Uint8Array.from(root.sig) }
        high.sig.set(hexToBytes((n - s).toString(16).padStart(64, '0')), 32)
        assert.equal(verifyDnsRoot(high, publicKeyOf(key)), false)
      }),
    )

    it(
      "syncing the example zone (geth TestClientSyncTree) yields its seq, link and three ENRs",
      on(async () => {
        const lookup = zone(tree.records, 'n')
        const got = await syncDnsTree(signer.url_for_sync, lookup)
        const want = tree.sync_expectations
        assert.equal(got.seq, want.seq)
        assert.deepEqual(got.links, want.links)
        assert.deepEqual(got.nodes.map(enrToText).sort(), [...want.nodes].sort())
        const ids = tree.records.flatMap((r: { enr_decoded_helper?: { node_id: string } }) =>
          r.enr_decoded_helper ? [r.enr_decoded_helper.node_id] : [],
        )
        assert.deepEqual(got.nodes.map((e) => bytesToHex(enrNodeId(e))).sort(), ids.sort())
        assert.equal(lookup.asked.length, 6, 'the root, one branch, three ENRs and the link: nothing twice')
      }),
    )

    it(
      'onEnr sees each verified ENR as the walk finds it; an aborted signal ends the walk with its reason',
      on(async () => {
        const seen: string[] = []
        const got = await syncDnsTree(signer.url_for_sync, zone(tree.records, 'n'), {
          onEnr: (e) => seen.push(enrToText(e)),
        })
        assert.deepEqual(seen, got.nodes.map(enrToText))
        const ctl = new AbortController()
        const lookup = zone(tree.records, 'n')
        const reason = new Error('stop')
        const walk = syncDnsTree(signer.url_for_sync, lookup, {
          signal: ctl.signal,
          onEnr: () => ctl.abort(reason),
        })
        await assert.rejects(walk, (e) => e === reason)
        assert.equal(lookup.asked.length, 3, 'the root, the branch, the first ENR, and no lookup after the abort')
      }),
    )

    it(
      'sync error cases fail with geth’s error text',
      on(async () => {
        for (const c of v.sync_error_cases) {
          const err = await syncDnsTree(c.url, zone(c.records)).then(
            () => assert.fail(`${c.name}: synced`),
            (e) => e,
          )
          assert.equal(gethText(err), c.want_error.error_string, c.name)
          assert.equal(err.code, 'DNS_BAD_ENTRY')
          assert.equal(err.details.name, c.want_error.name)
        }
      }),
    )

    it(
      'root cases (geth TestParseRoot)',
      on(() => {
        for (const c of v.parse_root_cases) {
          if (c.valid) {
            const r = parseDnsRoot(c.input)
            assert.deepEqual(
              { e: r.eroot, l: r.lroot, seq: r.seq, sig: bytesToHex(r.sig) },
              c.expected,
              c.input,
            )
          } else {
            assert.throws(
              () => parseDnsRoot(c.input),
              (e) => gethText(e) === c.go_ethereum_error,
              c.reason,
            )
          }
        }
      }),
    )

    it(
      'entry cases (geth TestParseEntry)',
      on(() => {
        for (const c of v.parse_entry_cases) {
          if (!c.valid) {
            assert.throws(
              () => parseDnsEntry(c.input),
              (e) => gethText(e) === c.go_ethereum_error,
              `${c.input}: ${c.reason}`,
            )
            continue
          }
          const e = parseDnsEntry(c.input)
          assert.equal(e.type, c.expected.type, c.input)
          if (e.type === 'branch') assert.deepEqual(e.children, c.expected.children)
          if (e.type === 'link') {
            assert.equal(e.domain, c.expected.domain)
            assert.equal(bytesToHex(compressPublicKey(e.pubkey)), c.expected.pubkey_compressed_helper)
            assert.equal(e.url, `enrtree://${c.expected.str}`)
          }
          if (e.type === 'enr') {
            assert.equal(bytesToHex(enrNodeId(e.enr)), c.expected.record_helper.node_id)
            assert.equal(e.enr.seq, BigInt(c.expected.record_helper.seq))
          }
        }
      }),
    )
  })
}

describe('EIP-1459 DNS discovery: hostile zones and base32', () => {
  const records = tree.records as { name: string; content: string }[]
  const url = signer.url_for_sync
  const failWith = async (lookup: LookupTxt, code: string, text: RegExp) => {
    const err = await syncDnsTree(url, lookup).then(
      () => assert.fail('synced'),
      (e) => e,
    )
    assert.equal(err.code, code)
    assert.match(gethText(err), text)
  }

  it('base32 round-trips every length and refuses bad characters and impossible lengths', () => {
    for (let n = 0; n <= 40; n++) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 37 + n * 11) & 0xff)
      assert.deepEqual(base32Decode(base32Encode(bytes)), bytes)
    }
    assert.equal(base32Encode(utf8('foobar')), 'MZXW6YTBOI') // RFC 4648 §10 without padding
    assert.equal(base32Decode('MZXW6YTBOI=='), undefined)
    assert.equal(base32Decode('mzxw6ytboi'), undefined)
    assert.equal(base32Decode('A'), undefined)
  })

  it('a record whose text does not hash to its name → DNS_HASH_MISMATCH', async () => {
    const bad = records.map((r) => (r.name === '2XS2367YHAXJFGLZHVAWLQD4ZY' ? { ...r, content: `${r.content}A` } : r))
    await failWith(zone(bad, 'n'), 'DNS_HASH_MISMATCH', /^2XS2367YHAXJFGLZHVAWLQD4ZY\.n: hash mismatch$/)
  })

  it('a missing entry → DNS_NO_ENTRY; no root → DNS_NO_ROOT; a root by another key → invalid signature', async () => {
    await failWith(
      zone(records.filter((r) => r.name !== 'MHTDO6TMUBRIA2XWG5LUDACK24'), 'n'),
      'DNS_NO_ENTRY',
      /^MHTDO6TMUBRIA2XWG5LUDACK24\.n: no valid tree entry found$/,
    )
    await failWith(zone(records.slice(1), 'n'), 'DNS_NO_ROOT', /^n: no valid root found$/)
    const other = formatEnrTreeUrl('n', parseEnrTreeUrl(v.example_url.url).pubkey)
    const err = await syncDnsTree(other, zone(records, 'n')).then(
      () => assert.fail('synced'),
      (e) => e,
    )
    assert.equal(gethText(err), 'invalid root entry: invalid base64 signature')
  })

  it('unknown TXT records beside an entry are skipped, as geth does', async () => {
    const noisy = [...records, { name: 'JWXYDBPXYWG6FX3GMDIBFA6CJ4', content: 'v=spf1 -all' }]
    noisy.unshift(noisy.pop()!)
    const got = await syncDnsTree(url, zone(noisy, 'n'))
    assert.equal(got.nodes.length, 3)
  })

  it('a link inside the ENR subtree and an ENR inside the link subtree are refused', async () => {
    const key = hexToBytes(signer.private_key)
    const signed = (eroot: string, lroot: string) => {
      const text = `enrtree-root:v1 e=${eroot} l=${lroot} seq=2`
      const sig = Buffer.from(sign(keccak256(utf8(text)), key)).toString('base64url')
      return { name: '@', content: `${text} sig=${sig}` }
    }
    const link = records.find((r) => r.content.startsWith('enrtree://'))!
    const enr = records.find((r) => r.content.startsWith('enr:'))!
    await failWith(zone([signed(link.name, link.name), ...records.slice(1)], 'n'), 'DNS_BAD_ENTRY', /^link entry in ENR subtree$/)
    await failWith(zone([signed(enr.name, enr.name), ...records.slice(1)], 'n'), 'DNS_BAD_ENTRY', /^enr entry in link subtree$/)
  })

  it('a tree wider than maxEntries stops the walk', async () => {
    const err = await syncDnsTree(url, zone(records, 'n'), { maxEntries: 3 }).then(
      () => assert.fail('synced'),
      (e) => e,
    )
    assert.equal(err.code, 'DNS_BAD_ENTRY')
    assert.match(gethText(err), /more than 3 entries/)
  })
})
