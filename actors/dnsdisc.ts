// EIP-1459 DNS node lists over real DNS: a TXT lookup through node:dns (c-ares, the system's or the given
// servers) for codecs/dnsdisc.ts `syncDnsTree`, and `syncDnsList(url)` that does both (geth dnsdisc.Client with
// its default net.Resolver). A TXT record's character-strings are joined into one text, as Go's LookupTXT does;
// a name without TXT records (ENODATA / ENOTFOUND) answers [] and the sync reports the missing entry.
import { Resolver } from 'node:dns/promises'
import { type DnsTree, type LookupTxt, syncDnsTree } from '../codecs/dnsdisc.ts'

/** geth dnsdisc Config.Timeout: 5 s per DNS lookup */
export const DNS_QUERY_TIMEOUT_MS = 5_000

export interface DnsLookupOptions {
  /** DNS servers as `ip` or `ip:port` (default: the system's) */
  servers?: readonly string[]
  /** per attempt, ms */
  timeoutMs?: number
  /** attempts per query */
  tries?: number
}

/** The one error class of this module: a query that failed for another reason than "no such record". */
export class DnsLookupError extends Error {
  readonly code = 'LOOKUP_FAILED'
  /** the name queried */
  readonly query: string
  constructor(query: string, cause: unknown) {
    super(`LOOKUP_FAILED: TXT ${query}: ${(cause as { code?: string })?.code ?? String(cause)}`, { cause })
    this.name = 'DnsLookupError'
    this.query = query
  }
}

const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND'])

export function dnsTxtLookup(opts: DnsLookupOptions = {}): LookupTxt {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? DNS_QUERY_TIMEOUT_MS, tries: opts.tries ?? 2 })
  if (opts.servers && opts.servers.length > 0) resolver.setServers([...opts.servers])
  return async (name) => {
    try {
      return (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''))
    } catch (e) {
      if (NO_RECORDS.has((e as { code?: string })?.code ?? '')) return []
      throw new DnsLookupError(name, e)
    }
  }
}

/** Resolve and verify the whole list behind an `enrtree://` URL (geth Client.SyncTree). */
export function syncDnsList(
  url: string,
  opts: DnsLookupOptions & { maxEntries?: number } = {},
): Promise<DnsTree> {
  return syncDnsTree(url, dnsTxtLookup(opts), { maxEntries: opts.maxEntries })
}
