// EIP-1459 DNS node lists over real DNS: a TXT lookup through node:dns (c-ares, the system's or the given
// servers) for codecs/dnsdisc.ts `syncDnsTree`, and `syncDnsList(url)` that does both (geth dnsdisc.Client with
// its default net.Resolver). A TXT record's character-strings are joined into one text, as Go's LookupTXT does;
// a name without TXT records (ENODATA / ENOTFOUND) answers [] and the sync reports the missing entry.
// `dnsDialCandidates(urls)` turns lists into a dial candidate source for createServer (geth eth's
// --discovery.dns iterator in the dial mix).
//
// API
//   dnsTxtLookup(opts) → LookupTxt            createDnsTxtResolver(opts) → { lookup, cancel() }
//   syncDnsList(url, opts) → DnsTree          dnsDialCandidates(urls, opts) → Observable<Node>
import { Resolver } from 'node:dns/promises'
import { Observable } from 'rxjs'
import {
  type DnsRoot,
  type DnsTree,
  type LookupTxt,
  parseEnrTreeUrl,
  resolveDnsRoot,
  syncDnsTree,
} from '../codecs/dnsdisc.ts'
import { type Enr, enrToNode } from '../codecs/enr.ts'
import type { Node } from '../codecs/node.ts'

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
  return createDnsTxtResolver(opts).lookup
}

/** A TXT lookup and `cancel()`, which ends its queries in flight (they reject: the resolver is done with). */
export function createDnsTxtResolver(opts: DnsLookupOptions = {}): { lookup: LookupTxt; cancel(): void } {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? DNS_QUERY_TIMEOUT_MS, tries: opts.tries ?? 2 })
  if (opts.servers && opts.servers.length > 0) resolver.setServers([...opts.servers])
  const lookup: LookupTxt = async (name) => {
    try {
      return (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''))
    } catch (e) {
      if (NO_RECORDS.has((e as { code?: string })?.code ?? '')) return []
      throw new DnsLookupError(name, e)
    }
  }
  return { lookup, cancel: () => resolver.cancel() }
}

/** Resolve and verify the whole list behind an `enrtree://` URL (geth Client.SyncTree). */
export function syncDnsList(
  url: string,
  opts: DnsLookupOptions & { maxEntries?: number } = {},
): Promise<DnsTree> {
  return syncDnsTree(url, dnsTxtLookup(opts), { maxEntries: opts.maxEntries })
}

/** geth dnsdisc Config.RecheckInterval: a synced tree's root is checked again after 30 min */
export const DNS_RECHECK_INTERVAL_MS = 30 * 60_000
/**
 * The pause between two offers of a list's nodes (ours: geth's random iterator starts over at once, and its dial
 * loop refuses most of a small list as recently dialled — 35 s history — while reading it again and again).
 */
export const DNS_REOFFER_MS = 10_000
/** lists followed through link entries, at most (ours: geth follows every link) */
export const DNS_MAX_TREES = 64
/** tree entries kept per list (geth dnsdisc Config.CacheLimit: 1 000 for all lists) */
export const DNS_CACHE_LIMIT = 10_000

export interface DnsCandidateOptions extends DnsLookupOptions {
  /** the TXT lookup (default: node:dns through the options above) */
  lookup?: LookupTxt
  recheckMs?: number
  reofferMs?: number
  maxEntries?: number
  /** a list failed to sync (it is tried again after a back-off: reofferMs doubling up to recheckMs) */
  onError?: (url: string, err: unknown) => void
  /** the clock (ms) */
  now?: () => number
}

interface ListState {
  url: string
  nodes: Node[] | undefined
  /** the root the nodes were synced under: a recheck that finds the same subtree hashes walks nothing (geth) */
  root: DnsRoot | undefined
  /**
   * TXT answers of the list's entries by name (entries are named by their content's hash, so they never change;
   * the root is never cached): a walk cut short when the last subscriber left goes on from here next time
   */
  cache: Map<string, string[]>
  domain: string
  /** when the list was last synced (or failed) */
  at: number
  fails: number
  syncing: Promise<void> | undefined
  /** the sync `syncing` belongs to (a cancelled one must not clear a later one's) */
  gen: number
}

/**
 * Dial candidates from EIP-1459 lists (geth eth's --discovery.dns iterator, fed to the dial mix): on subscribe,
 * every list (and the lists its link entries name) is synced unless synced within `recheckMs`; its dialable
 * nodes (an ENR with IP and TCP port) are offered as they are verified, and every `reofferMs` all known nodes
 * again, in random order. The synced lists are kept across subscriptions (the server unsubscribes while no
 * dial slot is free), and a sync in flight when the last subscriber leaves is cancelled (no lookup outlives
 * it). Bad URLs throw here, at creation.
 */
export function dnsDialCandidates(urls: readonly string[], opts: DnsCandidateOptions = {}): Observable<Node> {
  const recheckMs = opts.recheckMs ?? DNS_RECHECK_INTERVAL_MS
  const reofferMs = opts.reofferMs ?? DNS_REOFFER_MS
  const now = opts.now ?? Date.now
  const lists = new Map<string, ListState>()
  const addList = (url: string) => {
    const { domain } = parseEnrTreeUrl(url)
    if (!lists.has(url) && lists.size < DNS_MAX_TREES)
      lists.set(url, {
        url,
        nodes: undefined,
        root: undefined,
        cache: new Map(),
        domain,
        at: 0,
        fails: 0,
        syncing: undefined,
        gen: 0,
      })
  }
  for (const u of urls) addList(u)
  let subscribers = 0
  let abort: AbortController | undefined
  let resolver: { lookup: LookupTxt; cancel(): void } | undefined

  /** a failed list is tried again after reofferMs doubling up to recheckMs; a synced one after recheckMs */
  const due = (l: ListState): boolean =>
    l.fails > 0
      ? now() - l.at >= Math.min(recheckMs, reofferMs * 2 ** Math.min(l.fails - 1, 20))
      : l.nodes === undefined || now() - l.at >= recheckMs
  const txtLookup = (): LookupTxt => {
    if (opts.lookup) return opts.lookup
    resolver ??= createDnsTxtResolver(opts)
    return resolver.lookup
  }

  const sync = (l: ListState, offer: (n: Node) => void): Promise<void> => {
    if (l.syncing) return l.syncing
    const gen = ++l.gen
    let settled = false
    const p: Promise<void> = (async () => {
      abort ??= new AbortController()
      const signal = abort.signal
      const net = txtLookup()
      // the root is asked once per sync (a recheck that finds it changed walks under the same answer)
      let rootAnswer: Promise<string[]> | undefined
      const lookup: LookupTxt = async (name) => {
        if (name === l.domain) {
          rootAnswer ??= net(name)
          return rootAnswer
        }
        const hit = l.cache.get(name)
        if (hit !== undefined) return hit
        const answer = await net(name)
        if (l.cache.size < DNS_CACHE_LIMIT) l.cache.set(name, answer)
        return answer
      }
      const found: Node[] = []
      try {
        if (l.nodes !== undefined && l.root !== undefined) {
          // geth updateRoot: the subtrees are synced again only when their hashes changed
          const root = await resolveDnsRoot(l.url, lookup)
          if (sameTree(root, l.root)) {
            l.root = root
            l.fails = 0
            l.at = now()
            for (const n of l.nodes) offer(n)
            return
          }
        }
        let root: DnsRoot | undefined
        const tree = await syncDnsTree(l.url, lookup, {
          maxEntries: opts.maxEntries,
          signal,
          onRoot: (r) => {
            // a new tree version: the old one's entries are no longer named by it
            if (l.root !== undefined && !sameTree(r, l.root)) l.cache.clear()
            root = r
          },
          onEnr: (enr) => {
            const n = dialable(enr)
            if (n) {
              found.push(n)
              offer(n)
            }
          },
        })
        l.nodes = found
        l.root = root
        l.fails = 0
        l.at = now()
        for (const link of tree.links) addList(link)
      } catch (err) {
        // cancelled with the last subscriber: the list stays as it was
        if (signal.aborted) return
        l.fails++
        l.at = now()
        opts.onError?.(l.url, err)
      } finally {
        settled = true
        if (l.gen === gen) l.syncing = undefined
      }
    })()
    if (!settled) l.syncing = p
    return p
  }

  return new Observable<Node>((subscriber) => {
    subscribers++
    let timer: ReturnType<typeof setTimeout> | undefined
    const offer = (n: Node) => {
      if (!subscriber.closed) subscriber.next(n)
    }
    const pass = async () => {
      timer = undefined
      const fresh = new Set<ListState>()
      // lists named by links join while syncing: loop until no list is due
      for (let more = true; more && !subscriber.closed; ) {
        more = false
        for (const l of [...lists.values()])
          if (!fresh.has(l) && due(l)) {
            fresh.add(l)
            more = true
            await sync(l, offer)
            if (subscriber.closed) return
          }
      }
      // the nodes of lists not synced in this pass, shuffled (geth picks random tree entries)
      const known: Node[] = []
      for (const l of lists.values()) if (!fresh.has(l) && l.nodes) known.push(...l.nodes)
      for (let i = known.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1))
        ;[known[i], known[j]] = [known[j]!, known[i]!]
      }
      for (const n of known) {
        if (subscriber.closed) return
        subscriber.next(n)
      }
      if (!subscriber.closed) timer = setTimeout(run, reofferMs)
    }
    const run = () => {
      pass().catch((err) => subscriber.error(err))
    }
    run()
    return () => {
      if (timer !== undefined) clearTimeout(timer)
      if (--subscribers === 0) {
        abort?.abort(new Error('unsubscribed'))
        abort = undefined
        // a later subscriber starts its own walks (from the cached entries) instead of waiting for the cancelled
        for (const l of lists.values()) {
          l.syncing = undefined
          l.gen++
        }
        resolver?.cancel()
        resolver = undefined
      }
    }
  })
}

/** Two roots name the same subtrees (geth compares eroot / lroot, not seq). */
function sameTree(a: DnsRoot, b: DnsRoot): boolean {
  return a.eroot === b.eroot && a.lroot === b.lroot
}

/** A list's node the dialer can use: an ENR with an IP and a TCP port. */
function dialable(enr: Enr): Node | undefined {
  const n = enrToNode(enr)
  return n.ip !== undefined && n.tcp !== undefined && n.tcp !== 0 ? n : undefined
}
