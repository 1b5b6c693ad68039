// `devp2p-actors dns sync <enrtree-url>`: resolve, verify and print an EIP-1459 DNS node list (geth's
// `devp2p dns sync`, which writes the tree to a directory; here: the records on stdout, or JSON).
import { type Command, InvalidArgumentError } from 'commander'
import { DNS_QUERY_TIMEOUT_MS, syncDnsList } from '../../actors/dnsdisc.ts'
import { formatEnode } from '../../codecs/enode.ts'
import { enrToNode, enrToText } from '../../codecs/enr.ts'
import { hex, out, toJson } from './util.ts'

export function register(program: Command): void {
  const dns = program.command('dns').description('EIP-1459 DNS node lists')

  dns
    .command('sync')
    .description(
      'resolve an enrtree:// URL, check its signature and every entry hash, print its nodes and links',
    )
    .argument('<url>', 'enrtree://<base32 public key>@<domain>')
    .option('--server <host:port>', 'DNS server to ask (repeatable; default: the system resolver)', collect)
    .option('--timeout <ms>', 'per-query timeout in ms', positiveInt, DNS_QUERY_TIMEOUT_MS)
    .option('--json', 'print JSON')
    .action(async (url: string, opts: { server?: string[]; timeout: number; json?: boolean }) => {
      const tree = await syncDnsList(url, { servers: opts.server, timeoutMs: opts.timeout })
      const nodes = tree.nodes.map((r) => {
        const n = enrToNode(r)
        return { id: hex(n.id), seq: r.seq, enr: enrToText(r), enode: formatEnode(n) }
      })
      if (opts.json) {
        out(toJson({ url, seq: tree.seq, nodes, links: tree.links }))
        return
      }
      out(`${url}: seq ${tree.seq}, ${nodes.length} nodes, ${tree.links.length} links`)
      for (const n of nodes) out(`node ${n.id} ${n.enode}`)
      for (const l of tree.links) out(`link ${l}`)
    })
}

function collect(v: string, acc: string[] | undefined): string[] {
  return [...(acc ?? []), v]
}

function positiveInt(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number of ms')
  return n
}
