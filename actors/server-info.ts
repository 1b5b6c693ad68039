// The server's public JSON shapes, after geth p2p/server.go NodeInfo (admin_nodeInfo), p2p/peer.go PeerInfo
// (admin_peers) and PeerEvent (Server.SubscribeEvents), plus the small helpers that fill them: Go's
// net.Addr.String() for TCP endpoints, listen-address parsing, and the error text of a drop event.
import { DiscReason, discReasonString } from '../codecs/p2p.ts'
import type { PeerOutput } from '../machines/peer.machine.ts'

/** geth p2p.PeerEvent JSON (`peer` is the node id as 64 hex characters, enode.ID's text form). */
export interface PeerEvent {
  type: 'add' | 'drop' | 'msgsend' | 'msgrecv'
  peer: string
  error?: string
  protocol?: string
  msg_code?: number
  msg_size?: number
  /** local TCP endpoint, Go net.Addr form (`127.0.0.1:30303`, `[::1]:30303`) */
  local?: string
  remote?: string
}

/** geth p2p.NodeInfo (admin_nodeInfo). */
export interface NodeInfo {
  id: string
  name: string
  enode: string
  enr: string
  ip: string
  ports: { discovery: number; listener: number }
  listenAddr: string
  protocols: Record<string, unknown>
}

/** geth p2p.PeerInfo (admin_peers). */
export interface PeerInfo {
  enr?: string
  enode: string
  id: string
  name: string
  caps: string[]
  network: {
    localAddress: string
    remoteAddress: string
    inbound: boolean
    trusted: boolean
    static: boolean
  }
  protocols: Record<string, unknown>
}

/** Go's TCPAddr.String(): `ip:port`, IPv6 in brackets. */
export function formatHostPort(ip: string | undefined, port: number | undefined): string {
  const host = ip ?? ''
  return `${host.includes(':') ? `[${host}]` : host}:${port ?? 0}`
}

/**
 * geth ListenAddr text → host and port: `127.0.0.1:30303`, `[::1]:0`, `:30303` (all interfaces, as Go's
 * net.Listen), `0.0.0.0:0`. Throws RangeError when malformed.
 */
export function parseListenAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr.trim())
  if (!m) throw new RangeError(`invalid listen address ${addr} (want host:port)`)
  const port = Number(m[3])
  if (port > 65535) throw new RangeError(`invalid port in ${addr}`)
  const host = m[1] ?? m[2] ?? ''
  return { host: host === '' ? '0.0.0.0' : host, port }
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/**
 * The `error` of a drop event (geth: err.Error() of Peer.run's result): the DiscReason's text, except for a
 * connection failure, which reports the underlying error as geth reports the read error.
 */
export function dropErrorText(out: PeerOutput): string {
  if (out.error !== undefined && out.reason === DiscReason.NetworkError) return errorText(out.error)
  return discReasonString(out.reason)
}
