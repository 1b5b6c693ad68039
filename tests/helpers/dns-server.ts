// A tiny authoritative DNS server on 127.0.0.1 for tests (RFC 1035 over UDP): answers TXT queries from a zone
// map (name → TXT strings; a string longer than 255 bytes is split into character-strings, as zone files do),
// NXDOMAIN for unknown names, and counts the queries. No recursion, no other record types.
import { createSocket } from 'node:dgram'
import { dnsSubdomain, formatEnrTreeUrl } from '../../codecs/dnsdisc.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { publicKeyOf, sign } from '../../crypto/secp256k1.ts'

export interface TestDnsServer {
  port: number
  /** names asked, in order */
  queries: string[]
  close(): Promise<void>
}

function readName(msg: Buffer, at: number): { name: string; end: number } {
  const labels: string[] = []
  let i = at
  while (msg[i]! !== 0) {
    const len = msg[i]!
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'))
    i += 1 + len
  }
  return { name: labels.join('.'), end: i + 1 }
}

function txtRdata(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  const parts: Buffer[] = []
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    const chunk = bytes.subarray(i, i + 255)
    parts.push(Buffer.from([chunk.length]), chunk)
  }
  return Buffer.concat(parts)
}

export async function startDnsServer(zone: Map<string, string[]>): Promise<TestDnsServer> {
  const sock = createSocket('udp4')
  const queries: string[] = []
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return
    const { name, end } = readName(msg, 12)
    const qtype = msg.readUInt16BE(end)
    queries.push(name)
    const question = msg.subarray(12, end + 4)
    const records = qtype === 16 ? (zone.get(name.toLowerCase()) ?? []) : []
    const answers = records.map((text) => {
      const rdata = txtRdata(text)
      const rr = Buffer.alloc(12)
      rr.writeUInt16BE(0xc00c, 0) // pointer to the question's name
      rr.writeUInt16BE(16, 2) // TXT
      rr.writeUInt16BE(1, 4) // IN
      rr.writeUInt32BE(60, 6)
      rr.writeUInt16BE(rdata.length, 10)
      return Buffer.concat([rr, rdata])
    })
    const header = Buffer.alloc(12)
    header.writeUInt16BE(msg.readUInt16BE(0), 0)
    const nx = !zone.has(name.toLowerCase())
    header.writeUInt16BE(0x8400 | (nx ? 3 : 0), 2) // response, authoritative, NXDOMAIN or no error
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(answers.length, 6)
    sock.send(Buffer.concat([header, question, ...answers]), rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve))
  return {
    port: sock.address().port,
    queries,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  }
}

/**
 * Put a signed EIP-1459 tree into `zone` under `domain`: one branch entry naming every ENR (a test list stays far
 * below a TXT record's size), one naming every link, and the root signed with `signerKey`. Returns its URL.
 */
export function addDnsTree(
  zone: Map<string, string[]>,
  domain: string,
  signerKey: Uint8Array,
  enrs: readonly string[],
  links: readonly string[] = [],
  seq = 1,
): string {
  const put = (text: string) => {
    zone.set(`${dnsSubdomain(text).toLowerCase()}.${domain}`, [text])
    return dnsSubdomain(text)
  }
  const enrHashes = enrs.map(put)
  const linkHashes = links.map(put)
  const eroot = put(`enrtree-branch:${enrHashes.join(',')}`)
  const lroot = put(`enrtree-branch:${linkHashes.join(',')}`)
  const signed = `enrtree-root:v1 e=${eroot} l=${lroot} seq=${seq}`
  const sig = Buffer.from(sign(keccak256(new TextEncoder().encode(signed)), signerKey)).toString('base64url')
  zone.set(domain, [`${signed} sig=${sig}`])
  return formatEnrTreeUrl(domain, publicKeyOf(signerKey))
}
