// Listening and closing for the node's small HTTP servers (metrics, JSON-RPC): bind host:port (0 = ephemeral),
// report the base URL, and on close stop listening and end every open connection.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Listening {
  /** `http://host:port` (IPv6 hosts in brackets) */
  base: string
  port: number
  close(): Promise<void>
}

export async function listenHttp(server: Server, host: string, port: number): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  return {
    base: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
