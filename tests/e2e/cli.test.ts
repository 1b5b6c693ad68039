// The real `devp2p-actors` binary (bin/devp2p-actors.js through tsx): each command with good and bad input.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { assertFails, run } from '../helpers/cli.ts'

const KEY = 'b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291'
const PUB =
  'ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f'
const ID = 'a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7'
const ENR =
  'enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8'
const URL_PUB =
  '1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439'
const ENODE = `enode://${URL_PUB}@127.0.0.1:52150?discport=22334`

const dir = mkdtempSync(join(tmpdir(), 'devp2p-cli-'))
after(() => rmSync(dir, { recursive: true, force: true }))

describe('devp2p-actors CLI (spawned)', { concurrency: 4 }, () => {
  it('key generate prints a fresh 64-hex key', async () => {
    const [a, b] = await Promise.all([run('key', 'generate'), run('key', 'generate')])
    assert.equal(a.code, 0)
    assert.match(a.stdout, /^[0-9a-f]{64}\n$/)
    assert.notEqual(a.stdout, b.stdout)
  })

  it('key generate --out writes a geth nodekey file that key show --nodekey reads; refuses to overwrite', async () => {
    const file = join(dir, 'nodekey')
    const g = await run('key', 'generate', '--out', file)
    assert.equal(g.code, 0, g.stderr)
    const contents = readFileSync(file, 'utf8')
    assert.match(contents, /^[0-9a-f]{64}$/)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const s = await run('key', 'show', '--nodekey', file)
    assert.equal(s.code, 0, s.stderr)
    assert.match(g.stdout, /Node ID: ([0-9a-f]{64})/)
    assert.ok(s.stdout.includes(g.stdout.trim().split(' ').pop()!))
    assertFails(await run('key', 'generate', '--out', file), 'already exists')
    assert.equal(readFileSync(file, 'utf8'), contents)
  })

  it('key show --nodekeyhex prints node id, enode without address and public key', async () => {
    const r = await run('key', 'show', '--nodekeyhex', `0x${KEY}`)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `Node ID:    ${ID}\nenode:      enode://${PUB}\nPublic key: ${PUB}\n`)
    const j = await run('key', 'show', '--nodekeyhex', KEY, '--json')
    assert.deepEqual(JSON.parse(j.stdout), { id: ID, enode: `enode://${PUB}`, pubkey: PUB })
  })

  it('key show rejects bad keys and files with one clear line', async () => {
    assertFails(await run('key', 'show', '--nodekeyhex', 'abcd'), 'invalid length, need 256 bits')
    assertFails(await run('key', 'show', '--nodekeyhex', 'zz'), 'invalid hex character')
    assertFails(await run('key', 'show', '--nodekeyhex', '0'.repeat(64)), 'zero')
    assertFails(await run('key', 'show'), 'exactly one of')
    const bad = join(dir, 'badkey')
    writeFileSync(bad, `${KEY}xx\n`)
    assertFails(await run('key', 'show', '--nodekey', bad), 'invalid character')
    assertFails(await run('key', 'show', '--nodekey', join(dir, 'missing')), 'ENOENT')
  })

  it('key show --nodekey tolerates the trailing newline of a geth nodekey file', async () => {
    const file = join(dir, 'nodekey-nl')
    writeFileSync(file, `${KEY}\n`)
    const r = await run('key', 'show', '--nodekey', file)
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.stdout.startsWith(`Node ID:    ${ID}\n`))
  })

  it('enr decode dumps the EIP-778 example like geth enrdump', async () => {
    const r = await run('enr', 'decode', ENR)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(
      r.stdout,
      [
        `Node ID: ${ID}`,
        `URLv4:   enode://${PUB}@127.0.0.1:0?discport=30303`,
        'Record has sequence number 1 and 4 key/value pairs.',
        '  "id"        "v4"',
        '  "ip"        127.0.0.1',
        '  "secp256k1" 03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138',
        '  "udp"       30303',
        '',
      ].join('\n'),
    )
  })

  it('enr decode shows the eth fork id, IPv6 endpoint and unknown keys', async () => {
    // key 0x05…05, seq 7, ip 10.0.0.1, ip6 2001:db8::5, tcp 30303, udp 30301, eth fc64ec04/1150000, foo, snap
    const rec =
      'enr:-L24QGgIAiweC8dVtfdK9-1JMQkP3n6D8Imqg9WKj3Q4iGvlQqQrMpdgFvpjyhVoNpL1hnfmNyNKk7OV-MAqyzWOBWEHg2V0aMrJhPxk7ASDEYwwg2Zvb4NiYXKCaWSCdjSCaXCECgAAAYNpcDaQIAENuAAAAAAAAAAAAAAABYlzZWNwMjU2azGhA2LAoEbazOht3QNDxtPHx5wiCLoNnJzySm0EbSHSH5D3hHNuYXDAg3RjcIJ2X4N1ZHCCdl0'
    const r = await run('enr', 'decode', rec)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^URLv4: +enode:\/\/[0-9a-f]{128}@\[2001:db8::5\]:30303\?discport=30301$/m)
    assert.match(r.stdout, /^Record has sequence number 7 and 9 key\/value pairs\.$/m)
    assert.match(r.stdout, /^ {2}"eth" +fork id hash 0xfc64ec04, next 1150000$/m)
    assert.match(r.stdout, /^ {2}"foo" +626172$/m)
    assert.match(r.stdout, /^ {2}"snap" +c0 \(RLP list\)$/m)
  })

  it('enr decode --json', async () => {
    const r = await run('enr', 'decode', '--json', ENR)
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout)
    assert.equal(j.nodeId, ID)
    assert.equal(j.seq, 1)
    assert.deepEqual(j.pairs, {
      id: 'v4',
      ip: '127.0.0.1',
      secp256k1: '03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138',
      udp: 30303,
    })
    assert.equal(j.text, ENR)
  })

  it('enr decode rejects bad records with one line and a non-zero exit', async () => {
    assertFails(await run('enr', 'decode', 'enr:x'), 'illegal base64')
    assertFails(
      await run(
        'enr',
        'decode',
        'enr:-EmGZm9vYmFyY4JpZIJ2NIJpcIR_AAABiXNlY3AyNTZrMaEDOlFBdkZvqBXtSB_60JEQotNE9sm3jB0Ur8NRw6Ub4z2DdWRwgnZf',
      ),
      'invalid signature on node record',
    )
    assertFails(await run('enr', 'decode', `${ENR.slice(0, -4)}AAAA`), 'invalid record')
  })

  it('enode parse prints id, public key, ip and ports; --json', async () => {
    const r = await run('enode', 'parse', ENODE)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Node ID: +3431c3939e1ee2a6345e976a8234f9870152d64879f30bc272a074f6859e75e8$/m)
    assert.match(r.stdout, new RegExp(`^Public key: ${URL_PUB}$`, 'm'))
    assert.match(r.stdout, /^IP: +127\.0\.0\.1$/m)
    assert.match(r.stdout, /^TCP: +52150$/m)
    assert.match(r.stdout, /^UDP: +22334$/m)
    const j = JSON.parse((await run('enode', 'parse', '--json', ENODE)).stdout)
    assert.deepEqual(
      { ip: j.ip, tcp: j.tcp, udp: j.udp, enode: j.enode, pubkey: j.pubkey },
      { ip: '127.0.0.1', tcp: 52150, udp: 22334, enode: ENODE, pubkey: URL_PUB },
    )
  })

  it('enode parse rejects bad URLs with geth messages', async () => {
    assertFails(await run('enode', 'parse', 'enode://01010101@123.124.125.126:3'), 'wrong length')
    assertFails(await run('enode', 'parse', `enode://${URL_PUB}@127.0.0.1:foo`), 'invalid port')
    assertFails(await run('enode', 'parse', 'http://foobar'), "missing 'enr:' prefix")
  })

  it('unknown commands exit non-zero', async () => {
    const r = await run('bogus')
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /unknown command 'bogus'/)
  })
})
