// EIP-1459 lists as dial candidates (actors/dnsdisc.ts dnsDialCandidates) over real DNS queries to a DNS server of
// our own on 127.0.0.1 (tests/helpers/dns-server.ts), and a createServer node that dials the nodes of a list
// (ServerConfig.dialCandidates; the `node` command's --discovery.dns). Names live under the reserved `.test` TLD.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Subscription } from 'rxjs'
import { dnsDialCandidates } from '../../actors/dnsdisc.ts'
import { nodeConfig } from '../../cli/commands/node.ts'
import { bytesToHex } from '../../codecs/bytes.ts'
import { createEnr, enrToNode, enrToText } from '../../codecs/enr.ts'
import { DecodeError } from '../../codecs/errors.ts'
import type { Node } from '../../codecs/node.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'
import { NODE_FLAGS } from '../helpers/cli.ts'
import { addDnsTree, startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts'
import { assertNoLeaks, makeNode, resources, sleep, stopAll, waitUntil } from './server-helpers.ts'

const signer = generatePrivateKey()
const record = (ip: string, tcp?: number) =>
  createEnr(generatePrivateKey(), { ip, udp: 30303, ...(tcp !== undefined ? { tcp } : {}) })
const idHex = (n: Node) => bytesToHex(n.id)

describe('EIP-1459 lists as dial candidates, over DNS on 127.0.0.1', () => {
  const zone = new Map<string, string[]>()
  let dns: TestDnsServer
  let servers: string[]
  // list A: three dialable nodes, one without a TCP port, and a link to list B (one node)
  const a = [record('127.0.0.11', 30311), record('127.0.0.12', 30312), record('127.0.0.13', 30313)]
  const udpOnly = record('127.0.0.14')
  const b = [record('127.0.0.21', 30321)]
  const urlB = addDnsTree(zone, 'b.cand.test', signer, b.map(enrToText))
  const urlA = addDnsTree(zone, 'a.cand.test', signer, [...a, udpOnly].map(enrToText), [urlB])
  const want = [...a, ...b].map((r) => idHex(enrToNode(r))).sort()

  before(async () => {
    dns = await startDnsServer(zone)
    servers = [`127.0.0.1:${dns.port}`]
  })
  after(() => dns.close())

  /** subscribe, and collect offers until `n` arrived (or `ms` passed) */
  const collect = async (src: ReturnType<typeof dnsDialCandidates>, n: number, ms = 5000) => {
    const got: Node[] = []
    let sub: Subscription | undefined
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms)
      sub = src.subscribe((node) => {
        got.push(node)
        if (got.length === n) {
          clearTimeout(t)
          resolve()
        }
      })
    })
    sub!.unsubscribe()
    return got
  }

  it('offers the dialable nodes of a list and of the list it links, then again from the cache after the pause', async () => {
    const src = dnsDialCandidates([urlA], { servers, reofferMs: 50 })
    const q0 = dns.queries.length
    const twice = await collect(src, 2 * want.length)
    assert.equal(twice.length, 2 * want.length)
    const first = twice.slice(0, want.length)
    assert.deepEqual(first.map(idHex).sort(), want, 'a udp-only record is no dial candidate')
    assert.deepEqual(twice.slice(want.length).map(idHex).sort(), want, 'offered again after the pause')
    for (const n of twice) {
      assert.ok(n.ip?.startsWith('127.0.0.'))
      assert.ok(n.tcp && n.tcp > 30300)
    }
    // both lists: root, ENR branch, 4 ENRs, link branch, link (A); root, ENR branch, 1 ENR, empty link branch (B)
    const asked = dns.queries.length - q0
    assert.equal(asked, 12, dns.queries.slice(q0).join(' '))
    // a later subscriber gets the cached nodes at once, without asking DNS (recheck interval not reached)
    const again = await collect(src, want.length)
    assert.deepEqual(again.map(idHex).sort(), want)
    assert.equal(dns.queries.length - q0, asked)
  })

  it('after the recheck interval only the root is asked again, and a changed root syncs the list again', async () => {
    const z = 'recheck.cand.test'
    const one = record('127.0.0.31', 30331)
    const url = addDnsTree(zone, z, signer, [enrToText(one)])
    let clock = 1_000_000
    const src = dnsDialCandidates([url], { servers, recheckMs: 60_000, now: () => clock })
    const asked = () => dns.queries.filter((q) => q.toLowerCase().endsWith(z)).length
    /** the distinct nodes offered while subscribed for 300 ms (one pass: the re-offer pause is 10 s) */
    const window = async () =>
      [...new Set((await collect(src, Number.POSITIVE_INFINITY, 300)).map(idHex))].sort()
    const ids = (...rs: ReturnType<typeof record>[]) => rs.map((r) => idHex(enrToNode(r))).sort()
    assert.deepEqual(await window(), ids(one))
    assert.equal(asked(), 4, 'root, ENR branch, ENR, link branch')
    clock += 60_000
    assert.deepEqual(await window(), ids(one))
    assert.equal(asked(), 5, 'the root only: its subtree hashes did not change')
    const two = record('127.0.0.32', 30332)
    addDnsTree(zone, z, signer, [enrToText(one), enrToText(two)], [], 2)
    clock += 60_000
    assert.deepEqual(await window(), ids(one, two))
    assert.equal(asked(), 10, 'the new root, then the whole list again')
  })

  it('a walk cut short when the subscriber leaves goes on from the cached entries next time', async () => {
    const z = 'resume.cand.test'
    const rs = [record('127.0.0.41', 30341), record('127.0.0.42', 30342), record('127.0.0.43', 30343)]
    const url = addDnsTree(zone, z, signer, rs.map(enrToText))
    const src = dnsDialCandidates([url], { servers })
    const asked = () => dns.queries.filter((q) => q.toLowerCase().endsWith(z)).length
    assert.equal((await collect(src, 1)).length, 1)
    const cut = asked()
    assert.ok(cut < 6, `the walk stopped early (${cut} lookups)`)
    const all = await collect(src, 3)
    assert.deepEqual(all.map(idHex).sort(), rs.map((r) => idHex(enrToNode(r))).sort())
    // the root again, and only the entries the first walk had not reached
    assert.equal(asked(), 6 + 1, `${asked()} lookups in all`)
  })

  it('a list that fails to sync is reported and tried again after a back-off; unsubscribing ends the lookups', async () => {
    const missing = addDnsTree(new Map(), 'missing.cand.test', signer, [])
    const errors: unknown[] = []
    const src = dnsDialCandidates([missing], { servers, reofferMs: 40, onError: (_u, e) => errors.push(e) })
    const sub = src.subscribe(() => assert.fail('nothing to offer'))
    await waitUntil(() => errors.length >= 2, 5000, 'two failed syncs')
    sub.unsubscribe()
    assert.ok(errors[0] instanceof DecodeError && errors[0].code === 'DNS_NO_ROOT', String(errors[0]))
    const n = dns.queries.length
    await sleep(200)
    assert.equal(dns.queries.length, n, 'no lookup after the last subscriber left')
  })

  it('a bad list URL fails at creation', () => {
    assert.throws(() => dnsDialCandidates(['enrtree://nokey@x.test']), DecodeError)
  })

  it('createServer dials the nodes of a list (dynamic dials), and `node --discovery.dns` configures it', async () => {
    const base = resources()
    const target = makeNode()
    await target.srv.start()
    const port = target.srv.self().tcp!
    const url = addDnsTree(zone, 'server.cand.test', signer, [
      enrToText(createEnr(target.key, { ip: '127.0.0.1', tcp: port })),
    ])
    const dialer = makeNode({ dialCandidates: [dnsDialCandidates([url], { servers })] })
    const nodes = [target, dialer]
    try {
      await dialer.srv.start()
      await waitUntil(
        () => dialer.srv.peerCount() === 1 && target.srv.peerCount() === 1,
        10_000,
        'dialled the list',
      )
      const info = dialer.srv.peersInfo()[0]!
      assert.equal(info.id, target.id())
      assert.deepEqual(
        { inbound: info.network.inbound, static: info.network.static },
        { inbound: false, static: false },
      )
    } finally {
      await stopAll(nodes)
    }
    await assertNoLeaks(base)

    const cfg = { ...NODE_FLAGS, 'discovery.dns': `${urlA},${url}` }
    assert.equal(nodeConfig(cfg).dialCandidates?.length, 1)
    assert.equal(nodeConfig({ ...cfg, nodiscover: true }).dialCandidates, undefined, 'geth: --nodiscover too')
    assert.equal(nodeConfig({ ...cfg, 'discovery.dns': '' }).dialCandidates, undefined)
    assert.throws(() => nodeConfig({ ...cfg, 'discovery.dns': 'enrtree://bad' }), DecodeError)
  })
})
