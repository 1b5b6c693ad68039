// `devp2p-actors enr decode <record>`: a human-readable dump like geth's `devp2p enrdump`, or JSON.
import type { Command } from 'commander'
import { formatEnode } from '../../codecs/enode.ts'
import {
  decodeEnr,
  type Enr,
  type EnrEntries,
  enrGet,
  enrToNode,
  enrToText,
  parseEnrText,
} from '../../codecs/enr.ts'
import { rlpDecode } from '../../codecs/rlp.ts'
import { hex, out, toJson } from './util.ts'

/** `enr:…` text, or the RLP record as hex (geth enrdump accepts both). Signature verified. */
function parseRecord(source: string): Enr {
  const s = source.trim()
  const h = s.startsWith('0x') ? s.slice(2) : s
  if (h.length > 0 && h.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(h))
    return decodeEnr(new Uint8Array(Buffer.from(h, 'hex')))
  return parseEnrText(s)
}

const KNOWN = new Set<string>(['id', 'secp256k1', 'ip', 'ip6', 'tcp', 'tcp6', 'udp', 'udp6', 'eth'])

/** Decoded value of one entry for display: typed for known keys, string content or raw RLP hex otherwise. */
function entryValue(r: Enr, key: string): { text: string; json: unknown; ok: boolean } {
  const raw = r.pairs.get(key)!
  try {
    if (KNOWN.has(key)) {
      const v = enrGet(r, key as keyof EnrEntries)!
      if (key === 'id') return { text: JSON.stringify(v), json: v, ok: true }
      if (v instanceof Uint8Array) return { text: hex(v), json: hex(v), ok: true }
      if (key === 'eth') {
        const f = v as EnrEntries['eth']
        return {
          text: `fork id hash 0x${hex(f.hash)}, next ${f.next}`,
          json: { forkHash: `0x${hex(f.hash)}`, forkNext: f.next.toString() },
          ok: true,
        }
      }
      return { text: String(v), json: v, ok: true }
    }
    const item = rlpDecode(raw)
    if (item instanceof Uint8Array) return { text: hex(item), json: hex(item), ok: true }
    return { text: `${hex(raw)} (RLP list)`, json: { raw: hex(raw) }, ok: true }
  } catch {
    // malformed known entry: shown raw and flagged, as geth's enrdump does
  }
  return { text: `${hex(raw)} (!)`, json: { raw: hex(raw) }, ok: false }
}

export function register(program: Command): void {
  const enr = program.command('enr').description('Ethereum Node Record (EIP-778) tools')

  enr
    .command('decode')
    .description('decode and verify a node record (enr:… text or RLP hex) and print its entries')
    .argument('<record>', 'enr:<base64url> or the RLP record as hex')
    .option('--json', 'print JSON')
    .action((source: string, opts: { json?: boolean }) => {
      let r: Enr
      try {
        r = parseRecord(source)
      } catch (e) {
        throw new Error(`invalid record: ${(e as Error).message}`)
      }
      const node = enrToNode(r)
      const keys = [...r.pairs.keys()]
      if (opts.json) {
        out(
          toJson({
            nodeId: hex(node.id),
            enode: formatEnode(node),
            seq: r.seq <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.seq) : r.seq,
            signature: hex(r.signature),
            pairs: Object.fromEntries(keys.map((k) => [k, entryValue(r, k).json])),
            text: enrToText(r),
          }),
        )
        return
      }
      out(`Node ID: ${hex(node.id)}`)
      out(`URLv4:   ${formatEnode(node)}`)
      out(`Record has sequence number ${r.seq} and ${keys.length} key/value pairs.`)
      const width = Math.max(0, ...keys.map((k) => JSON.stringify(k).length))
      for (const k of keys) out(`  ${JSON.stringify(k).padEnd(width)} ${entryValue(r, k).text}`)
    })
}
