// One UDP socket as a small effectful wrapper (DESIGN.md §1 "UDP socket ─ actors/udp"; geth p2p/discover's
// UDPConn: ReadFromUDPAddrPort / WriteToUDPAddrPort / Close / LocalAddr): bind, send, the received datagrams as
// an RxJS Observable, close. Source addresses are reported in canonical form (IPv4-mapped IPv6 unwrapped, as
// geth's handlePacket does). Knows nothing of discovery packets.
//
// API
//   openUdpSocket({ address = '0.0.0.0', port = 0, reuseAddr? }) → Promise<UdpSocket>   (udp6 when address has ':')
//   UdpSocket.address()          { address, port } actually bound
//   UdpSocket.datagrams$         hot Observable<Datagram>; completes on close; never errors (socket errors after
//                                bind are reported on errors$ and the socket keeps running, as geth ignores
//                                temporary read errors)
//   UdpSocket.send(bytes, port, address) → Promise<void>   rejects with UdpError('SEND_FAILED' | 'CLOSED')
//   UdpSocket.close() → Promise<void>                      idempotent
import dgram from 'node:dgram'
import { type Observable, Subject } from 'rxjs'

export type UdpErrorCode = 'BIND_FAILED' | 'SEND_FAILED' | 'CLOSED'

/** The one error class of the UDP socket wrapper. */
export class UdpError extends Error {
  readonly code: UdpErrorCode
  readonly details: Record<string, unknown>
  constructor(code: UdpErrorCode, message?: string, details: Record<string, unknown> = {}) {
    super(message ? `${code}: ${message}` : code)
    this.name = 'UdpError'
    this.code = code
    this.details = details
  }
}

export interface UdpAddress {
  address: string
  port: number
}

export interface Datagram {
  data: Uint8Array
  from: UdpAddress
}

export interface UdpSocketOptions {
  /** local address to bind (default 0.0.0.0; an IPv6 literal selects udp6) */
  address?: string
  /** local port (default 0: any free port) */
  port?: number
  reuseAddr?: boolean
}

export interface UdpSocket {
  address(): UdpAddress
  readonly datagrams$: Observable<Datagram>
  /** socket errors after bind (diagnostics only) */
  readonly errors$: Observable<Error>
  send(data: Uint8Array, port: number, address: string): Promise<void>
  close(): Promise<void>
  readonly closed: boolean
}

const IPV4_RE = /^\d+\.\d+\.\d+\.\d+$/

/** `::ffff:1.2.3.4` → `1.2.3.4` (geth: unwrap IPv4-in-6 source addresses). */
export function unmapAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return m ? m[1]! : address
}

export async function openUdpSocket(opts: UdpSocketOptions = {}): Promise<UdpSocket> {
  const address = opts.address ?? '0.0.0.0'
  const v6 = address.includes(':')
  const sock = dgram.createSocket({
    type: v6 ? 'udp6' : 'udp4',
    reuseAddr: opts.reuseAddr,
  })
  const datagrams = new Subject<Datagram>()
  const errors = new Subject<Error>()
  let closed = false
  let closing: Promise<void> | undefined

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => {
      sock.removeListener('listening', onListening)
      try {
        sock.close()
      } catch {
        // already closed
      }
      reject(new UdpError('BIND_FAILED', e.message, { address, port: opts.port ?? 0 }))
    }
    const onListening = () => {
      sock.removeListener('error', onError)
      resolve()
    }
    sock.once('error', onError)
    sock.once('listening', onListening)
    sock.bind(opts.port ?? 0, address)
  })

  sock.on('message', (msg, rinfo) => {
    datagrams.next({
      data: new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength),
      from: { address: unmapAddress(rinfo.address), port: rinfo.port },
    })
  })
  sock.on('error', (e) => errors.next(e))
  const bound = sock.address()

  return {
    address: () => ({ address: bound.address, port: bound.port }),
    datagrams$: datagrams.asObservable(),
    errors$: errors.asObservable(),
    get closed() {
      return closed
    },
    send(data, port, to) {
      if (closed) return Promise.reject(new UdpError('CLOSED', 'socket closed'))
      // a dual-stack udp6 socket reaches IPv4 hosts through their IPv4-mapped address
      const addr = v6 && IPV4_RE.test(to) ? `::ffff:${to}` : to
      return new Promise<void>((resolve, reject) => {
        try {
          sock.send(data, port, addr, (err) => {
            if (err) reject(new UdpError('SEND_FAILED', err.message, { port, address: addr }))
            else resolve()
          })
        } catch (e) {
          reject(new UdpError('SEND_FAILED', (e as Error).message, { port, address: addr }))
        }
      })
    },
    close() {
      if (closing) return closing
      closed = true
      closing = new Promise<void>((resolve) => {
        try {
          sock.close(() => resolve())
        } catch {
          resolve()
        }
      }).then(() => {
        datagrams.complete()
        errors.complete()
      })
      return closing
    },
  }
}
