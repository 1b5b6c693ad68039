import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { ClassicLevel } from 'classic-level'
import {
  DB_NODE_EXPIRATION_MS,
  NodeDb,
  nodeItemKey,
  nodeKey,
  putUvarint,
  putVarint,
  readUvarint,
  readVarint,
} from '../../../actors/discovery/nodedb.ts'
import { bytesToHex } from '../../../codecs/bytes.ts'
import { createEnr, type Enr, enrToNode } from '../../../codecs/enr.ts'
import type { Node } from '../../../codecs/node.ts'
import { generatePrivateKey } from '../../../crypto/secp256k1.ts'
import { fakeNode, randomId } from './helpers.ts'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nodedb-test-'))
  dirs.push(d)
  return d
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const DAY = 24 * 3600_000
const HOUR = 3600_000

test('varints are Go binary.PutVarint / PutUvarint', () => {
  assert.equal(bytesToHex(putVarint(9n)), '12')
  assert.equal(bytesToHex(putVarint(-1n)), '01')
  assert.equal(bytesToHex(putVarint(1_700_000_000n)), '80c49fd50c')
  assert.equal(bytesToHex(putUvarint(300n)), 'ac02')
  assert.equal(bytesToHex(putUvarint(0n)), '00')
  for (const v of [0n, 1n, -1n, 63n, -64n, 64n, 1_700_000_000n, -(2n ** 63n), 2n ** 63n - 1n])
    assert.equal(readVarint(putVarint(v)), v)
  for (const v of [0n, 127n, 128n, 2n ** 64n - 1n]) assert.equal(readUvarint(putUvarint(v)), v)
  assert.equal(readUvarint(new Uint8Array([0x80])), undefined)
})

test('keys follow geth layout: n:<id>:v4 and n:<id>:v4:<ip16>:<field>', () => {
  const id = new Uint8Array(32).fill(0xab)
  const ip16 = new Uint8Array(16)
  ip16[15] = 1
  assert.equal(Buffer.from(nodeKey(id)).toString('latin1'), `n:${'\xab'.repeat(32)}:v4`)
  assert.equal(
    Buffer.from(nodeItemKey(id, ip16, 'lastpong')).toString('latin1'),
    `n:${'\xab'.repeat(32)}:v4:${'\0'.repeat(15)}\x01:lastpong`,
  )
})

function withDbs(name: string, fn: (open: (now?: () => number) => Promise<NodeDb>) => Promise<void>) {
  test(`${name} (memory-level)`, () => fn((now) => NodeDb.open({ now })))
  test(`${name} (classic-level)`, () => {
    const path = tempDir()
    return fn((now) => NodeDb.open({ path, now }))
  })
}

withDbs('node records round-trip; lower seqs never overwrite', async (open) => {
  const db = await open()
  const n = fakeNode(randomId(), '127.1.2.4', 30303)
  n.tcp = 30304
  await db.updateNode(n)
  const got = await db.node(n.id)
  assert.ok(got)
  assert.deepEqual(got.id, n.id)
  assert.deepEqual(got.pubkey, n.pubkey)
  assert.equal(got.ip, '127.1.2.4')
  assert.equal(got.udp, 30303)
  assert.equal(got.tcp, 30304)
  assert.equal(got.record, undefined)
  assert.equal(await db.node(randomId()), undefined)
  // seq handling
  const withRec = fakeNode(n.id, '127.1.2.5', 1, 7n)
  await db.updateNode(withRec)
  assert.equal(await db.nodeSeq(n.id), 7n)
  await db.updateNode(fakeNode(n.id, '127.9.9.9', 2, 3n))
  assert.equal((await db.node(n.id))!.ip, '127.1.2.5')
  // resolve: the stored node unless the given one has a higher seq
  assert.equal((await db.resolve(fakeNode(n.id, '127.4.4.4', 1, 6n))).ip, '127.1.2.5')
  assert.equal((await db.resolve(fakeNode(n.id, '127.4.4.4', 1, 8n))).ip, '127.4.4.4')
  const unknown = fakeNode(randomId(), '127.4.4.4')
  assert.equal(await db.resolve(unknown), unknown)
  await db.deleteNode(n.id)
  assert.equal(await db.node(n.id), undefined)
  assert.equal(await db.nodeSeq(n.id), 0n)
  await db.close()
  await db.close()
})

test('stored ENR bytes are handed to decodeRecord on load', async () => {
  const raw = new Uint8Array([0xc0, 1, 2, 3])
  const db = await NodeDb.open({
    decodeRecord: (bytes) => ({ seq: 5n, raw: bytes, signature: new Uint8Array(0), pairs: new Map() }) as Enr,
  })
  const n: Node = { ...fakeNode(randomId(), '::1', 4000), record: { seq: 5n, raw } as Enr }
  await db.updateNode(n)
  const got = await db.node(n.id)
  assert.deepEqual(got!.record!.raw, raw)
  assert.equal(got!.ip, '::1')
  await db.close()
})

withDbs('lastping / lastpong / findfails are kept per (id, IP), in whole seconds', async (open) => {
  const db = await open()
  const id = randomId()
  assert.equal(await db.lastPongReceived(id, '127.1.1.1'), 0)
  assert.equal(await db.updateLastPongReceived(id, '127.1.1.1', 1_700_000_000_123), true)
  assert.equal(await db.lastPongReceived(id, '127.1.1.1'), 1_700_000_000_000)
  assert.equal(await db.lastPongReceived(id, '127.1.1.2'), 0)
  assert.equal(await db.lastPongReceived(id, '::ffff:127.1.1.1'), 1_700_000_000_000)
  await db.updateLastPingReceived(id, '127.1.1.2', 5_000)
  assert.equal(await db.lastPingReceived(id, '127.1.1.2'), 5_000)
  assert.equal(await db.lastPingReceived(id, '127.1.1.1'), 0)
  assert.equal(await db.findFails(id, '127.1.1.1'), 0)
  await db.updateFindFails(id, '127.1.1.1', 3)
  assert.equal(await db.findFails(id, '127.1.1.1'), 3)
  assert.equal(await db.findFails(id, '127.1.1.2'), 0)
  // invalid IPs: nothing stored, zero read
  assert.equal(await db.updateFindFails(id, undefined, 3), false)
  assert.equal(await db.updateLastPongReceived(id, 'bad', 1), false)
  assert.equal(await db.findFails(id, 'bad'), 0)
  await db.close()
})

test('local seq: defaults to the clock, persists across reopen (classic-level)', async () => {
  const path = tempDir()
  const id = randomId()
  let db = await NodeDb.open({ path, now: () => 1234 })
  assert.equal(await db.localSeq(id), 1234n)
  await db.storeLocalSeq(id, 99n)
  assert.equal(await db.localSeq(id), 99n)
  await db.close()
  db = await NodeDb.open({ path, now: () => 5678 })
  assert.equal(await db.localSeq(id), 99n)
  assert.equal(await db.localSeq(randomId()), 5678n)
  await db.close()
})

test('a version mismatch wipes the database (geth newPersistentDB)', async () => {
  const path = tempDir()
  let db = await NodeDb.open({ path })
  const n = fakeNode(randomId(), '127.1.2.4')
  await db.updateNode(n)
  await db.close()
  db = await NodeDb.open({ path })
  assert.ok(await db.node(n.id), 'same version keeps data')
  await db.close()
  const raw = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await raw.put(new TextEncoder().encode('version'), putVarint(9n)) // geth's version
  await raw.close()
  db = await NodeDb.open({ path })
  assert.equal(await db.node(n.id), undefined)
  await db.close()
  db = await NodeDb.open({ path })
  assert.equal(await db.node(n.id), undefined)
  await db.close()
})

withDbs('querySeeds: random fresh nodes, no duplicates, at most n, old pongs skipped', async (open) => {
  const now = 100 * DAY
  const db = await open(() => now)
  const fresh = new Set<string>()
  for (let i = 0; i < 60; i++) {
    const n = fakeNode(randomId(), `5.6.${i}.1`)
    await db.updateNode(n)
    const old = i >= 50
    await db.updateLastPongReceived(n.id, n.ip, old ? now - 6 * DAY : now - HOUR)
    if (!old) fresh.add(bytesToHex(n.id))
  }
  const seeds = await db.querySeeds(30, 5 * DAY)
  assert.ok(seeds.length > 20 && seeds.length <= 30, String(seeds.length))
  const ids = seeds.map((s) => bytesToHex(s.id))
  assert.equal(new Set(ids).size, ids.length)
  for (const id of ids) assert.ok(fresh.has(id))
  // a small DB is covered, though not by every single query: like geth's, the seeks advance the first byte by
  // r % 16 and restart after running off the end, so one query can step over a node (about 5 % of random
  // three-node DBs). geth's TestDBSeedQuery retries for this reason; here the union of some queries must be all.
  // A node whose id starts with 0x00 is the hardest: only a restart that draws r % 16 = 0 and a lower key reaches
  // it, so a query misses it with a chance of about 0.62 (measured) — 10 queries missed it once in CI, 50 miss it
  // less than once in 10^10
  const small = await NodeDb.open({ now: () => now })
  const three: string[] = []
  for (let i = 0; i < 3; i++) {
    const n = fakeNode(randomId(), `7.7.7.${i + 1}`)
    await small.updateNode(n)
    await small.updateLastPongReceived(n.id, n.ip, now)
    three.push(bytesToHex(n.id))
  }
  const covered = new Set<string>()
  for (let q = 0; q < 50 && covered.size < three.length; q++) {
    const got = (await small.querySeeds()).map((s) => bytesToHex(s.id))
    assert.equal(new Set(got).size, got.length, 'no duplicates')
    for (const id of got) {
      assert.ok(three.includes(id))
      covered.add(id)
    }
  }
  assert.deepEqual([...covered].sort(), three.sort())
  assert.deepEqual(await (await NodeDb.open()).querySeeds(), [])
  await small.close()
  await db.close()
})

withDbs('expireNodes drops stale IPs and nodes whose youngest pong is older than 24 h', async (open) => {
  const now = 100 * DAY
  const db = await open(() => now)
  const stale = fakeNode(randomId(), '127.1.0.1')
  const mixed = fakeNode(randomId(), '127.2.0.1')
  const noPong = fakeNode(randomId(), '127.3.0.1')
  for (const n of [stale, mixed, noPong]) await db.updateNode(n)
  await db.updateLastPongReceived(stale.id, '127.1.0.1', now - DB_NODE_EXPIRATION_MS - HOUR)
  await db.updateFindFails(stale.id, '127.1.0.1', 2)
  await db.updateLastPongReceived(mixed.id, '127.2.0.1', now - HOUR)
  await db.updateLastPongReceived(mixed.id, '127.2.0.2', now - 2 * DAY)
  await db.updateFindFails(mixed.id, '127.2.0.2', 4)
  assert.equal(await db.expireNodes(), 1)
  assert.equal(await db.node(stale.id), undefined)
  assert.equal(await db.findFails(stale.id, '127.1.0.1'), 0)
  assert.ok(await db.node(mixed.id))
  assert.equal(await db.lastPongReceived(mixed.id, '127.2.0.1'), Math.floor((now - HOUR) / 1000) * 1000)
  assert.equal(await db.lastPongReceived(mixed.id, '127.2.0.2'), 0)
  assert.equal(await db.findFails(mixed.id, '127.2.0.2'), 0)
  assert.ok(await db.node(noPong.id), 'geth keeps nodes that never answered')
  await db.close()
})

test('ensureExpirer runs expiry periodically until stopped; close stops it', async () => {
  let now = 100 * DAY
  const db = await NodeDb.open({ now: () => now })
  const n = fakeNode(randomId(), '127.1.0.1')
  await db.updateNode(n)
  await db.updateLastPongReceived(n.id, n.ip, now)
  db.ensureExpirer(10)
  db.ensureExpirer(10)
  await new Promise((r) => setTimeout(r, 30))
  assert.ok(await db.node(n.id))
  now += 2 * DAY
  for (let i = 0; i < 50 && (await db.node(n.id)); i++) await new Promise((r) => setTimeout(r, 10))
  assert.equal(await db.node(n.id), undefined)
  await db.close()
  db.ensureExpirer(10) // no-op once closed
})

test('by default stored records are decoded with codecs/enr (a real signed record round-trips)', async () => {
  const rec = createEnr(generatePrivateKey(), { ip: '127.8.4.4', udp: 30303, tcp: 30303, seq: 3n })
  const node = enrToNode(rec)
  const db = await NodeDb.open()
  await db.updateNode(node)
  const got = await db.node(node.id)
  assert.equal(got!.record!.seq, rec.seq)
  assert.deepEqual(got!.record!.raw, rec.raw)
  assert.equal(await db.nodeSeq(node.id), rec.seq)
  assert.equal(got!.ip, '127.8.4.4')
  await db.close()
})
