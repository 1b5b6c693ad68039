// enode:// URLs (go-ethereum p2p/enode/urlv4.go ParseV4 / URLv4 and node.go Parse): parse and format
// with geth's accept/reject rules. Hostnames are kept as `hostname` and never resolved here.
//
// API
//   parseNode(input)      geth enode.Parse: `enode://…` URL or `enr:…` record (signature verified),
//                         anything else → "missing 'enr:' prefix for base64-encoded record"
//   parseEnode(url)       geth ParseV4: `enode://<128 hex>@host:tcp[?discport=udp]`, or the incomplete
//                         `enode://<128 hex>` / bare `<128 hex>` forms (no address, no ports)
//   formatEnode(node)     geth Node.URLv4: `enode://<hex>@ip:tcp[?discport=udp]` (IPv6 in brackets,
//                         hostname instead of the IP when set); `enode://<hex>` without an address
// Errors: DecodeError('BAD_ENODE') carrying geth's message ("invalid port", "invalid discport in query",
// "invalid public key (wrong length, want 128 hex chars)", …); enr: inputs throw the ENR codec's errors.
import { nodeIdOf } from '../crypto/keys.ts'
import { uncompressPublicKey } from '../crypto/secp256k1.ts'
import { ENR_TEXT_PREFIX, enrToNode, formatIp, parseEnrText, parseIp } from './enr.ts'
import { DecodeError } from './errors.ts'
import type { Node } from './node.ts'

export const ENODE_SCHEME_PREFIX = 'enode://'

/** geth enode/urlv4.go incompleteNodeURL: `(?i)^(?:enode://)?([0-9a-f]+)$`. */
const INCOMPLETE_RE = /^(?:enode:\/\/)?([0-9a-f]+)$/i

const bad = (message: string, details?: Record<string, unknown>) =>
  new DecodeError('BAD_ENODE', message, details)

/** geth enode.Parse(ValidSchemes, input). */
export function parseNode(input: string): Node {
  if (input.startsWith(ENODE_SCHEME_PREFIX)) return parseEnode(input)
  if (!input.startsWith(ENR_TEXT_PREFIX)) throw bad("missing 'enr:' prefix for base64-encoded record")
  return enrToNode(parseEnrText(input))
}

function parsePubkey(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw bad('invalid public key (invalid hex character)')
  if (hex.length % 2 !== 0) throw bad('invalid public key (odd length hex string)')
  if (hex.length !== 128) throw bad('invalid public key (wrong length, want 128 hex chars)')
  const key = new Uint8Array(Buffer.from(hex, 'hex'))
  try {
    uncompressPublicKey(key)
  } catch {
    throw bad('invalid public key (invalid secp256k1 curve point)')
  }
  return key
}

/** Go strconv.ParseUint(s, 10, 16). */
function parsePort(s: string): number | null {
  if (!/^[0-9]+$/.test(s)) return null
  const n = Number(s)
  return n <= 0xffff ? n : null
}

/** Go url unescape (host/userinfo mode: `+` stays; query mode: `+` is a space); null on a bad escape. */
function urlUnescape(s: string, query: boolean): string | null {
  if (!s.includes('%') && !(query && s.includes('+'))) return s
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === '%') {
      const h = s.slice(i + 1, i + 3)
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return null
      out += String.fromCharCode(Number.parseInt(h, 16))
      i += 2
    } else out += query && c === '+' ? ' ' : c
  }
  return out
}

/** Characters Go's url.Parse allows in a host (RFC 3986 unreserved, sub-delims, `:`, `%`). */
const HOST_RE = /^[A-Za-z0-9\-._~!$&'()*+,;=:%]*$/
const USERINFO_RE = /^[A-Za-z0-9\-._~!$&'()*+,;=:%@]*$/

/** The value of the first `discport` query parameter (Go url.Values.Get; malformed pairs are skipped). */
function discport(rawQuery: string): string {
  for (const part of rawQuery.split('&')) {
    if (part === '' || part.includes(';')) continue
    const eq = part.indexOf('=')
    const key = urlUnescape(eq < 0 ? part : part.slice(0, eq), true)
    const value = urlUnescape(eq < 0 ? '' : part.slice(eq + 1), true)
    if (key === null || value === null) continue
    if (key === 'discport') return value
  }
  return ''
}

/** geth enode.ParseV4: a complete URL, or the incomplete forms `enode://<hex>` and `<hex>`. */
export function parseEnode(url: string): Node {
  const m = INCOMPLETE_RE.exec(url)
  if (m) {
    const pubkey = parsePubkey(m[1]!)
    return { id: nodeIdOf(pubkey), pubkey }
  }
  if (!url.startsWith(ENODE_SCHEME_PREFIX)) throw bad('invalid URL scheme, want "enode"')
  // Go's url.Parse rejects ASCII control characters anywhere in the URL
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) throw bad('net/url: invalid control character in URL')
  }
  let rest = url.slice(ENODE_SCHEME_PREFIX.length)
  const hash = rest.indexOf('#')
  if (hash >= 0) rest = rest.slice(0, hash)
  let rawQuery = ''
  const q = rest.indexOf('?')
  if (q >= 0) {
    rawQuery = rest.slice(q + 1)
    rest = rest.slice(0, q)
  }
  const slash = rest.indexOf('/')
  const authority = slash >= 0 ? rest.slice(0, slash) : rest
  const at = authority.lastIndexOf('@')
  if (at < 0) throw bad('does not contain node ID')
  const userinfo = authority.slice(0, at)
  if (!USERINFO_RE.test(userinfo)) throw bad('net/url: invalid userinfo')
  const user = urlUnescape(userinfo, false)
  if (user === null) throw bad('invalid URL escape in userinfo')
  const pubkey = parsePubkey(user)

  // host[:port] — bracketed IPv6 literal or anything up to the last colon
  const hostport = authority.slice(at + 1)
  let host: string
  let port: string
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']')
    if (close < 0) throw bad("missing ']' in host")
    host = hostport.slice(1, close)
    const after = hostport.slice(close + 1)
    if (after !== '' && !/^:[0-9]*$/.test(after))
      throw bad(`invalid port ${JSON.stringify(after)} after host`)
    port = after.slice(1)
  } else {
    const colon = hostport.lastIndexOf(':')
    if (colon >= 0) {
      const after = hostport.slice(colon)
      if (!/^:[0-9]*$/.test(after)) throw bad(`invalid port ${JSON.stringify(after)} after host`)
      host = hostport.slice(0, colon)
      port = after.slice(1)
    } else {
      host = hostport
      port = ''
    }
    if (!HOST_RE.test(host)) throw bad(`invalid character in host name ${JSON.stringify(host)}`)
  }
  const hostname = urlUnescape(host, false)
  if (hostname === null) throw bad(`invalid URL escape in host ${JSON.stringify(host)}`)

  const tcp = parsePort(port)
  if (tcp === null) throw bad('invalid port')
  let udp = tcp
  const disc = discport(rawQuery)
  if (disc !== '') {
    const p = parsePort(disc)
    if (p === null) throw bad('invalid discport in query')
    udp = p
  }

  const node: Node = { id: nodeIdOf(pubkey), pubkey, tcp, udp }
  const ipBytes = parseIp(hostname)
  if (ipBytes) {
    // geth keeps only a valid (non-multicast) IP as the endpoint; 4-in-6 addresses become IPv4
    const v4 = ipBytes.length === 4 || formatIp(ipBytes).includes('.')
    const multicast = v4 ? (ipBytes[ipBytes.length - 4]! & 0xf0) === 0xe0 : ipBytes[0] === 0xff
    if (!multicast) node.ip = formatIp(ipBytes)
  } else if (hostname !== '') node.hostname = hostname
  return node
}

/** geth Node.URLv4. */
export function formatEnode(node: Pick<Node, 'pubkey' | 'ip' | 'tcp' | 'udp' | 'hostname'>): string {
  const hex = Buffer.from(node.pubkey).toString('hex')
  const tcp = node.tcp ?? 0
  const udp = node.udp ?? 0
  const query = udp !== tcp ? `?discport=${udp}` : ''
  if (node.hostname) return `${ENODE_SCHEME_PREFIX}${hex}@${node.hostname}:${tcp}${query}`
  if (node.ip) {
    const host = node.ip.includes(':') ? `[${node.ip}]` : node.ip
    return `${ENODE_SCHEME_PREFIX}${hex}@${host}:${tcp}${query}`
  }
  return `${ENODE_SCHEME_PREFIX}${hex}`
}
