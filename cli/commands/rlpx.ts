// `devp2p-actors rlpx ping <node>`: geth cmd/devp2p `rlpx ping` — dial the node over TCP, run the ECIES handshake
// with a fresh key, read its first message and print its Hello (name, protocol version, capabilities, listen port,
// id). A Disconnect instead of the Hello fails with geth's text ("received disconnect message: too many peers");
// any other first message fails too. We send no Hello and leave without a Disconnect, as geth's tool does. The
// whole exchange is bounded by --timeout (default 10 s; geth's tool has none beyond the 5 s handshake).
//
// `devp2p-actors rlpx status <node> [--eth CHAIN]`: which chain a node is on. One peer machine (actors/peer.ts
// startPeer, a fresh key) dials the node running eth/72 … eth/68 over the chain --eth names (as `node --eth` does);
// the eth Status it gets back is printed (negotiated version, network id, genesis, fork id, block range, or td and
// head on eth/68) once it passed our checks, and the peer is dropped (DiscRequested). A refused Status fails with
// the check's text ("network ID mismatch: 1 (!= 11155111)"), a peer that ends before it with the reason ("peer
// dropped by the remote: too many peers"; a Hello without eth: useless peer).
import type { Command } from 'commander'
import { EmptyError, firstValueFrom, timeout as rxTimeout } from 'rxjs'
import { tcpConnect } from '../../actors/dialer.ts'
import type { EthPeer } from '../../actors/eth.ts'
import { createCheckpointSupervisor, startPeer } from '../../actors/peer.ts'
import { RlpxConnection } from '../../actors/rlpx-connection.ts'
import { bytesToHex } from '../../codecs/bytes.ts'
import { parseNode } from '../../codecs/enode.ts'
import type { EthStatus } from '../../codecs/eth.ts'
import {
  capString,
  DiscReason,
  decodeDisconnect,
  decodeHello,
  discReasonString,
  type Hello,
  P2P_MSG,
} from '../../codecs/p2p.ts'
import { generatePrivateKey } from '../../crypto/secp256k1.ts'
import { parseDuration } from './discv4.ts'
import { ETH_CHOICES, nodeEth } from './node.ts'
import { hex, out, printRows, toJson } from './util.ts'

/** Default bound of one `rlpx ping`. */
export const DEFAULT_RLPX_PING_TIMEOUT_MS = 10_000

/** Parse `url` and open a TCP connection to it within `timeoutMs`; the deadline goes on bounding what follows. */
async function dial(url: string, timeoutMs: number) {
  const n = parseNode(url.trim())
  if (n.ip === undefined || !n.tcp) throw new Error('node has no TCP endpoint')
  const deadline = AbortSignal.timeout(timeoutMs)
  const socket = await tcpConnect(n.ip, n.tcp, deadline).catch((e: unknown) => {
    throw deadline.aborted ? new Error(`no connection to ${n.ip}:${n.tcp} within ${timeoutMs} ms`) : e
  })
  return { n: n as typeof n & { ip: string; tcp: number }, socket, deadline }
}

/** Dial `url`, complete the ECIES handshake and return the Hello the node sent first. */
export async function rlpxPing(
  url: string,
  timeoutMs: number = DEFAULT_RLPX_PING_TIMEOUT_MS,
): Promise<Hello> {
  const { n, socket, deadline } = await dial(url, timeoutMs)
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

/** What `rlpx status` learnt: the remote's name and the eth Status it sent. */
export interface RemoteEthStatus {
  name: string
  version: number
  status: EthStatus
}

/**
 * Dial `url` with one peer machine (actors/peer.ts startPeer; a fresh key) running eth over the chain `eth` names
 * (node --eth; --networkid overrides its id) and resolve with the eth Status the node sent once it passed our
 * checks; rejects with the failed check's text, the reason the peer ended before its Status, or after `timeoutMs`.
 * A Hello without eth is refused with DiscUselessPeer, as a server offering only eth does.
 */
export async function rlpxStatus(
  url: string,
  opts: { eth: string; networkid?: string },
  timeoutMs: number = DEFAULT_RLPX_PING_TIMEOUT_MS,
): Promise<RemoteEthStatus> {
  const e = nodeEth({ eth: opts.eth, ...(opts.networkid !== undefined && { networkid: opts.networkid }) })
  if (e === undefined) throw new Error('--eth none: no eth Status to ask for')
  const { n, socket } = await dial(url, timeoutMs)
  const supervisor = createCheckpointSupervisor((cp) =>
    cp.type === 'checkpoint.addPeer' && cp.matched === 0 ? DiscReason.UselessPeer : null,
  )
  const session = startPeer({
    socket,
    privateKey: generatePrivateKey(),
    dialDest: n,
    protocols: e.eth.protocols,
    supervisor,
  })
  let timer: ReturnType<typeof setTimeout> | undefined
  let sub: { unsubscribe(): void } | undefined
  try {
    const peer = await new Promise<EthPeer>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no eth Status from ${n.ip}:${n.tcp} within ${timeoutMs} ms`)),
        timeoutMs,
      )
      sub = e.eth.peerEvents$.subscribe((ev) => {
        if (ev.type === 'join') resolve(ev.peer)
        else if (ev.type === 'handshakeFailed') reject(new Error(ev.error.message))
      })
      // ended before its Status (a failed Status check comes first, through handshakeFailed)
      session.dropped.then((out) => {
        const by = out.requestedByRemote ? ' by the remote' : ''
        reject(
          new Error(
            `peer dropped${by}: ${discReasonString(out.reason)}${out.error ? ` (${out.error})` : ''}`,
          ),
        )
      })
    })
    const handle = await session.ready
    return { name: handle.name, version: peer.version, status: peer.status }
  } finally {
    clearTimeout(timer)
    sub?.unsubscribe()
    session.disconnect(DiscReason.Requested)
    await session.closed
    supervisor.stop()
  }
}

/** The Status as JSON: the eth/68 layout has td and head, later ones the block range. */
function statusJson(r: RemoteEthStatus): Record<string, unknown> {
  const s = r.status
  return {
    name: r.name,
    version: r.version,
    networkId: s.networkId,
    genesis: s.genesis,
    forkId: { hash: s.forkId.hash, next: s.forkId.next },
    ...('latestHash' in s
      ? { earliest: s.earliest, latest: s.latest, latestHash: s.latestHash }
      : { td: s.td, head: s.head }),
  }
}

function statusRows(r: RemoteEthStatus): [string, string][] {
  const s = r.status
  return [
    ['Name', r.name],
    ['Version', `eth/${r.version}`],
    ['Network ID', String(s.networkId)],
    ['Genesis', bytesToHex(s.genesis)],
    ['Fork ID', `${bytesToHex(s.forkId.hash)} next ${s.forkId.next}`],
    ...(('latestHash' in s
      ? [
          ['Earliest', String(s.earliest)],
          ['Latest', `${s.latest} (${bytesToHex(s.latestHash)})`],
        ]
      : [
          ['TD', String(s.td)],
          ['Head', bytesToHex(s.head)],
        ]) as [string, string][]),
  ]
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
  rlpx
    .command('status')
    .description(
      'connect to a node over eth and print its Status: version, network id, genesis, fork id, block range',
    )
    .argument('<node>', 'enode:// URL or enr: record with an IP and a TCP port')
    .option(
      '--eth <chain>',
      `our side's chain: ${ETH_CHOICES.filter((c) => c !== 'none').join(' | ')}`,
      'mainnet',
    )
    .option('--networkid <id>', "eth network id (default: the chain's)")
    .option('--timeout <duration>', 'give up after this long (e.g. 10s)', '10s')
    .option('--json', 'print JSON')
    .action(
      async (node: string, opts: { eth: string; networkid?: string; timeout: string; json?: boolean }) => {
        const r = await rlpxStatus(node, opts, parseDuration(opts.timeout))
        if (opts.json) out(toJson(statusJson(r)))
        else printRows(statusRows(r))
      },
    )
}
