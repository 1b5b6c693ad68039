// `devp2p-actors rlpx ping <node>`: geth cmd/devp2p `rlpx ping` — dial the node over TCP, run the ECIES handshake
// with a fresh key, read its first message and print its Hello (name, protocol version, capabilities, listen port,
// id). A Disconnect instead of the Hello fails with geth's text ("received disconnect message: too many peers");
// any other first message fails too. We send no Hello and leave without a Disconnect, as geth's tool does. The
// whole exchange is bounded by --timeout (default 10 s; geth's tool has none beyond the 5 s handshake).
import type { Command } from 'commander'
import { EmptyError, firstValueFrom, timeout as rxTimeout } from 'rxjs'
import { tcpConnect } from '../../actors/dialer.ts'
import { RlpxConnection } from '../../actors/rlpx-connection.ts'
import { parseNode } from '../../codecs/enode.ts'
import {
  capString,
  decodeDisconnect,
  decodeHello,
  discReasonString,
  type Hello,
  P2P_MSG,
} from '../../codecs/p2p.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'
import { parseDuration } from './discv4.ts'
import { hex, out, printRows, toJson } from './util.ts'

/** Default bound of one `rlpx ping`. */
export const DEFAULT_RLPX_PING_TIMEOUT_MS = 10_000

/** Dial `url`, complete the ECIES handshake and return the Hello the node sent first. */
export async function rlpxPing(
  url: string,
  timeoutMs: number = DEFAULT_RLPX_PING_TIMEOUT_MS,
): Promise<Hello> {
  const n = parseNode(url.trim())
  if (n.ip === undefined || !n.tcp) throw new Error('node has no TCP endpoint')
  const deadline = AbortSignal.timeout(timeoutMs)
  const socket = await tcpConnect(n.ip, n.tcp, deadline).catch((e: unknown) => {
    throw deadline.aborted ? new Error(`no connection to ${n.ip}:${n.tcp} within ${timeoutMs} ms`) : e
  })
  const conn = new RlpxConnection(socket, {
    privateKey: generatePrivateKey(),
    remotePubkey: n.pubkey,
    handshakeTimeout: Math.min(timeoutMs, 5_000),
  })
  try {
    await conn.encHandshake(deadline).catch((e: unknown) => {
      const why = deadline.aborted
        ? `no answer within ${timeoutMs} ms`
        : e instanceof Error
          ? e.message
          : String(e)
      throw new Error(`RLPx handshake with ${n.ip}:${n.tcp} failed: ${why}`)
    })
    const first = await firstValueFrom(
      conn.messages$.pipe(rxTimeout({ first: Math.max(1, timeoutMs) })),
    ).catch((e: unknown) => {
      if (e instanceof EmptyError) throw new Error('connection closed before the Hello')
      throw e instanceof Error && e.name === 'TimeoutError'
        ? new Error(`no message within ${timeoutMs} ms`)
        : e
    })
    switch (first.code) {
      case P2P_MSG.hello:
        try {
          return decodeHello(first.payload)
        } catch (e) {
          throw new Error(`invalid handshake: ${e instanceof Error ? e.message : String(e)}`)
        }
      case P2P_MSG.disconnect:
        throw new Error(`received disconnect message: ${discReasonString(decodeDisconnect(first.payload))}`)
      default:
        throw new Error(
          `invalid message code ${first.code}, expected handshake (code zero) or disconnect (code one)`,
        )
    }
  } finally {
    conn.close()
    await conn.closed
  }
}

export function register(program: Command): void {
  const rlpx = program.command('rlpx').description('RLPx tools')
  rlpx
    .command('ping')
    .description(
      "perform an RLPx handshake with a node and print the Hello it sends (geth's devp2p rlpx ping)",
    )
    .argument('<node>', 'enode:// URL or enr: record with an IP and a TCP port')
    .option('--timeout <duration>', 'give up after this long (e.g. 10s, 500ms)', '10s')
    .option('--json', 'print JSON')
    .action(async (node: string, opts: { timeout: string; json?: boolean }) => {
      const h = await rlpxPing(node, parseDuration(opts.timeout))
      const caps = h.caps.map(capString)
      if (opts.json) {
        out(toJson({ name: h.name, version: h.version, caps, listenPort: h.listenPort, id: hex(h.id) }))
        return
      }
      printRows([
        ['Name', h.name],
        ['Version', String(h.version)],
        ['Caps', caps.join(', ') || '(none)'],
        ['ListenPort', String(h.listenPort)],
        ['ID', hex(h.id)],
      ])
    })
}
