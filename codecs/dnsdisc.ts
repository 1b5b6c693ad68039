// EIP-1459 DNS node lists (geth p2p/dnsdisc tree.go, error.go and client.go's tree walk): the TXT entry
// codec, the root signature, subdomain hashes, `enrtree://` URLs, and a tree sync over a TXT lookup the caller
// provides (no DNS here: the actors layer or a test supplies `lookupTxt`).
//
// | function                      | geth                      | result / error (DecodeError, message = geth's text)       |
// |-------------------------------|---------------------------|-----------------------------------------------------------|
// | parseDnsRoot(text)            | parseRoot                 | {eroot, lroot, seq, sig}; DNS_BAD_ENTRY "invalid root…"   |
// | verifyDnsRoot(root, pubkey)   | rootEntry.verifySignature | boolean (r‖s over keccak256 of the text before " sig=")   |
// | parseDnsEntry(text)           | parseEntry                | branch / link / enr; DNS_UNKNOWN_ENTRY, DNS_BAD_ENTRY     |
// | parseEnrTreeUrl(url)          | ParseURL                  | {domain, pubkey (64 bytes)}; DNS_BAD_URL                  |
// | formatEnrTreeUrl(domain, key) | linkEntry.url             | `enrtree://<base32 compressed key>@<domain>`              |
// | dnsSubdomain(text)            | subdomain                 | base32 (no padding) of keccak256(text)[:16]               |
// | resolveDnsRoot(url, lookupTxt)| Client.resolveRoot        | the verified root; DNS_NO_ROOT, DNS_BAD_ENTRY             |
// | syncDnsTree(url, lookupTxt)   | Client.SyncTree           | {seq, nodes, links}; DNS_NO_ROOT, DNS_NO_ENTRY,           |
// |   [, {maxEntries, onRoot,     |                           | DNS_HASH_MISMATCH, DNS_BAD_ENTRY "… at <name>: …";        |
// |       onEnr, signal}]         |                           | onRoot(root) once verified, onEnr(enr) per verified ENR   |
// |                               |                           | as the walk finds it; an aborted signal ends the walk     |
import { keccak256 } from '../crypto/keccak.ts'
import { verifySignature } from '../crypto/keys.ts'
import { compressPublicKey, uncompressPublicKey } from '../crypto/secp256k1.ts'
import { base64UrlDecode, equalBytes } from './bytes.ts'
import { decodeEnr, type Enr } from './enr.ts'
import { DecodeError } from './errors.ts'

export const DNS_ROOT_PREFIX = 'enrtree-root:v1'
export const DNS_BRANCH_PREFIX = 'enrtree-branch:'
export const DNS_LINK_PREFIX = 'enrtree://'
export const DNS_ENR_PREFIX = 'enr:'
/** geth hashAbbrev: subdomain hashes are the first 16 bytes of keccak256 */
export const DNS_HASH_ABBREV = 16
/** geth minHashLength: a child hash must decode to 12..32 bytes */
export const DNS_MIN_HASH_LENGTH = 12
/** entries one sync resolves at most (geth has no bound; a hostile tree must not make us walk for ever) */
export const DNS_MAX_SYNC_ENTRIES = 100_000

export interface DnsRoot {
  /** hash of the ENR subtree's root entry */
  eroot: string
  /** hash of the link subtree's root entry */
  lroot: string
  seq: number
  /** 65 bytes r‖s‖v */
  sig: Uint8Array
  /** the root text up to " sig=", which the signature covers */
  signed: string
}

export type DnsEntry =
  | { type: 'branch'; children: string[] }
  | { type: 'link'; domain: string; pubkey: Uint8Array; url: string }
  | { type: 'enr'; enr: Enr; text: string }

export interface DnsTree {
  seq: number
  /** the records of the ENR subtree, in walk order */
  nodes: Enr[]
  /** the `enrtree://` URLs of the link subtree */
  links: string[]
}

// --- base32 (RFC 4648, no padding: Go's base32.StdEncoding.WithPadding(NoPadding)) ------------------

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const B32_INDEX = new Map([...B32].map((c, i) => [c, i]))

export function base32Encode(bytes: Uint8Array): string {
  let out = ''
  let acc = 0
  let bits = 0
  for (const b of bytes) {
    acc = (acc << 8) | b
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += B32[(acc >>> bits) & 31]
    }
    acc &= (1 << bits) - 1
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31]
  return out
}

/** undefined when `s` is not unpadded base32 (a bad character or a length no byte count encodes to) */
export function base32Decode(s: string): Uint8Array | undefined {
  const rem = s.length % 8
  if (rem === 1 || rem === 3 || rem === 6) return undefined
  const out = new Uint8Array(Math.floor((s.length * 5) / 8))
  let acc = 0
  let bits = 0
  let n = 0
  for (const c of s) {
    const v = B32_INDEX.get(c)
    if (v === undefined) return undefined
    acc = ((acc << 5) | v) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[n++] = (acc >>> bits) & 0xff
    }
  }
  return out
}

// --- errors -----------------------------------------------------------------------------------------

/** geth entryError: "invalid <type> entry: <err>" */
const entryError = (type: string, err: string, details: Record<string, unknown> = {}) =>
  new DecodeError('DNS_BAD_ENTRY', `invalid ${type} entry: ${err}`, { type, reason: err, ...details })

/** geth nameError for an entry error: it names the record the entry came from */
function atName(name: string, e: DecodeError): DecodeError {
  const { type, reason } = e.details as { type: string; reason: string }
  return new DecodeError(e.code, `invalid ${type} entry at ${name}: ${reason}`, { ...e.details, name })
}

// --- entries ----------------------------------------------------------------------------------------

/** geth isValidHash: unpadded base32 of 12..32 bytes, no line breaks */
export function isValidDnsHash(s: string): boolean {
  const len = Math.floor((s.length * 5) / 8)
  if (len < DNS_MIN_HASH_LENGTH || len > 32) return false
  return base32Decode(s) !== undefined
}

export function dnsSubdomain(text: string): string {
  return base32Encode(keccak256(new TextEncoder().encode(text)).subarray(0, DNS_HASH_ABBREV))
}

const ROOT_RE = /^enrtree-root:v1\s+e=(\S+)\s+l=(\S+)\s+seq=(\d+)\s+sig=(\S+)/

export function parseDnsRoot(text: string): DnsRoot {
  const m = ROOT_RE.exec(text)
  if (!m || !Number.isSafeInteger(Number(m[3]))) throw entryError('root', 'invalid syntax')
  const [, eroot, lroot, seq, sig] = m as unknown as [string, string, string, string, string]
  if (!isValidDnsHash(eroot) || !isValidDnsHash(lroot)) throw entryError('root', 'invalid child hash')
  const sigBytes = base64UrlDecode(sig)
  if (sigBytes === undefined || sigBytes.length !== 65) throw entryError('root', 'invalid base64 signature')
  return {
    eroot,
    lroot,
    seq: Number(seq),
    sig: sigBytes,
    signed: `${DNS_ROOT_PREFIX} e=${eroot} l=${lroot} seq=${Number(seq)}`,
  }
}

/** geth verifySignature: r‖s (the recovery id is ignored, a high s refused) over keccak256 of the signed text. */
export function verifyDnsRoot(root: DnsRoot, pubkey: Uint8Array): boolean {
  return verifySignature(keccak256(new TextEncoder().encode(root.signed)), root.sig.subarray(0, 64), pubkey)
}

function parseLink(rest: string): { domain: string; pubkey: Uint8Array } {
  const at = rest.indexOf('@')
  if (at < 0) throw entryError('link', 'missing public key')
  const key = base32Decode(rest.slice(0, at))
  let pubkey: Uint8Array | undefined
  if (key?.length === 33) {
    try {
      pubkey = uncompressPublicKey(key)
    } catch {
      // not on the curve
    }
  }
  if (pubkey === undefined) throw entryError('link', 'invalid public key')
  return { domain: rest.slice(at + 1), pubkey }
}

/** geth parseEntry (branch, link, enr; a root is parsed by parseDnsRoot). ENR signatures are checked (v4). */
export function parseDnsEntry(text: string): DnsEntry {
  if (text.startsWith(DNS_LINK_PREFIX)) {
    const { domain, pubkey } = parseLink(text.slice(DNS_LINK_PREFIX.length))
    return { type: 'link', domain, pubkey, url: text }
  }
  if (text.startsWith(DNS_BRANCH_PREFIX)) {
    const rest = text.slice(DNS_BRANCH_PREFIX.length)
    if (rest === '') return { type: 'branch', children: [] }
    const children = rest.split(',')
    if (!children.every(isValidDnsHash)) throw entryError('branch', 'invalid child hash')
    return { type: 'branch', children }
  }
  if (text.startsWith(DNS_ENR_PREFIX)) {
    const bytes = base64UrlDecode(text.slice(DNS_ENR_PREFIX.length))
    if (bytes === undefined) throw entryError('enr', 'invalid node record')
    try {
      return { type: 'enr', enr: decodeEnr(bytes), text }
    } catch (e) {
      const err = e instanceof DecodeError ? e.message.slice(e.code.length + 2) || e.code : String(e)
      throw entryError('enr', err, { cause: e })
    }
  }
  throw new DecodeError('DNS_UNKNOWN_ENTRY', 'unknown entry type')
}

// --- URLs -------------------------------------------------------------------------------------------

export function parseEnrTreeUrl(url: string): { domain: string; pubkey: Uint8Array } {
  if (!url.startsWith(DNS_LINK_PREFIX))
    throw new DecodeError('DNS_BAD_URL', "wrong/missing scheme 'enrtree' in URL")
  try {
    return parseLink(url.slice(DNS_LINK_PREFIX.length))
  } catch (e) {
    throw new DecodeError('DNS_BAD_URL', (e as DecodeError).details.reason as string)
  }
}

export function formatEnrTreeUrl(domain: string, pubkey: Uint8Array): string {
  return `${DNS_LINK_PREFIX}${base32Encode(compressPublicKey(pubkey))}@${domain}`
}

// --- sync -------------------------------------------------------------------------------------------

/** TXT records of a DNS name (empty when there are none) */
export type LookupTxt = (name: string) => Promise<string[]>

async function resolveEntry(lookupTxt: LookupTxt, domain: string, hash: string): Promise<DnsEntry> {
  // every hash reaching here passed isValidDnsHash (root or branch parsing)
  const want = base32Decode(hash)!
  const name = `${hash}.${domain}`
  for (const txt of await lookupTxt(name)) {
    let entry: DnsEntry | undefined
    let err: DecodeError | undefined
    try {
      entry = parseDnsEntry(txt)
    } catch (e) {
      if (e instanceof DecodeError && e.code === 'DNS_UNKNOWN_ENTRY') continue
      err = e as DecodeError
    }
    const digest = keccak256(new TextEncoder().encode(txt))
    if (!equalBytes(digest.subarray(0, want.length), want))
      throw new DecodeError('DNS_HASH_MISMATCH', `${name}: hash mismatch`, { name })
    if (err) throw atName(name, err)
    return entry!
  }
  throw new DecodeError('DNS_NO_ENTRY', `${name}: no valid tree entry found`, { name })
}

/** geth Client.resolveRoot: the root entry at the URL's domain, its signature checked against the URL's key. */
export async function resolveDnsRoot(url: string, lookupTxt: LookupTxt): Promise<DnsRoot> {
  const { domain, pubkey } = parseEnrTreeUrl(url)
  const rootText = (await lookupTxt(domain)).find((t) => t.startsWith(DNS_ROOT_PREFIX))
  if (rootText === undefined) throw new DecodeError('DNS_NO_ROOT', `${domain}: no valid root found`)
  const root = parseDnsRoot(rootText)
  if (!verifyDnsRoot(root, pubkey)) throw entryError('root', 'invalid base64 signature')
  return root
}

/**
 * geth Client.SyncTree: resolve the root at the URL's domain, check its signature against the URL's key, then
 * walk both subtrees. Links may only appear under `l=`, ENRs only under `e=` (geth errLinkInENRTree /
 * errENRInLinkTree); every entry's text must hash to its name.
 */
export async function syncDnsTree(
  url: string,
  lookupTxt: LookupTxt,
  opts: {
    maxEntries?: number
    /** the verified root, before the walk */
    onRoot?: (root: DnsRoot) => void
    /** each verified ENR as the walk finds it (before the whole tree is known) */
    onEnr?: (enr: Enr) => void
    /** checked before every lookup: an aborted walk rejects with the signal's reason */
    signal?: AbortSignal
  } = {},
): Promise<DnsTree> {
  const { domain } = parseEnrTreeUrl(url)
  opts.signal?.throwIfAborted()
  const root = await resolveDnsRoot(url, lookupTxt)
  opts.onRoot?.(root)
  const max = opts.maxEntries ?? DNS_MAX_SYNC_ENTRIES
  let resolved = 0
  const tree: DnsTree = { seq: root.seq, nodes: [], links: [] }
  // each subtree is walked on its own (geth subtreeSync), so an entry both roots name is type-checked twice
  const walk = async (start: string, link: boolean) => {
    const seen = new Set<string>()
    const missing = [start]
    while (missing.length > 0) {
      const hash = missing.shift()!
      if (seen.has(hash)) continue
      seen.add(hash)
      if (++resolved > max) throw new DecodeError('DNS_BAD_ENTRY', `tree has more than ${max} entries`)
      opts.signal?.throwIfAborted()
      const e = await resolveEntry(lookupTxt, domain, hash)
      if (e.type === 'branch') missing.push(...e.children)
      else if (e.type === 'enr') {
        if (link) throw new DecodeError('DNS_BAD_ENTRY', 'enr entry in link subtree', { name: hash })
        tree.nodes.push(e.enr)
        opts.onEnr?.(e.enr)
      } else {
        if (!link) throw new DecodeError('DNS_BAD_ENTRY', 'link entry in ENR subtree', { name: hash })
        tree.links.push(e.url)
      }
    }
  }
  await walk(root.eroot, false)
  await walk(root.lroot, true)
  return tree
}
