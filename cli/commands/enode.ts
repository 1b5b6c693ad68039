// `devp2p-actors enode parse <url>`: parse an enode:// URL (or enr: record) as geth's enode.Parse does.
import type { Command } from 'commander'
import { formatEnode, parseNode } from '../../codecs/enode.ts'
import { hex, out, printRows, toJson } from './util.ts'

export function register(program: Command): void {
  const enode = program.command('enode').description('enode:// URL tools')

  enode
    .command('parse')
    .description('parse an enode:// URL (or an enr: record) and print id, public key, address and ports')
    .argument('<url>', 'enode://<128 hex>@host:tcp[?discport=udp], enode://<128 hex>, or enr:…')
    .option('--json', 'print JSON')
    .action((url: string, opts: { json?: boolean }) => {
      const n = parseNode(url.trim())
      const fields = {
        id: hex(n.id),
        pubkey: hex(n.pubkey),
        ip: n.ip ?? null,
        hostname: n.hostname ?? null,
        tcp: n.tcp ?? 0,
        udp: n.udp ?? 0,
        enode: formatEnode(n),
      }
      if (opts.json) {
        out(toJson(fields))
        return
      }
      const rows: [string, string][] = [
        ['Node ID', fields.id],
        ['Public key', fields.pubkey],
      ]
      if (fields.hostname !== null) rows.push(['Hostname', fields.hostname])
      rows.push(['IP', fields.ip ?? '(none)'], ['TCP', String(fields.tcp)], ['UDP', String(fields.udp)])
      rows.push(['URLv4', fields.enode])
      printRows(rows)
    })
}
