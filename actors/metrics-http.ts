// The Prometheus endpoint of a node (geth's metrics HTTP server, `--metrics --metrics.addr --metrics.port`):
// `GET /debug/metrics/prometheus` answers with a prom-client Registry's text exposition, anything else with 404.
// close() stops listening and ends every open connection.
//
// API
//   const m = await startMetricsServer({ registry, host?: '127.0.0.1', port?: 6060 })   (port 0 = ephemeral)
//   m.url ('http://127.0.0.1:PORT/debug/metrics/prometheus'), m.port, await m.close()
import { createServer } from 'node:http'
import type { Registry } from 'prom-client'
import { listenHttp } from './http-listen.ts'

/** geth's default --metrics.port */
export const DEFAULT_METRICS_PORT = 6060
/** geth's Prometheus path (metrics/prometheus) */
export const METRICS_PATH = '/debug/metrics/prometheus'

export interface MetricsServer {
  url: string
  port: number
  close(): Promise<void>
}

export async function startMetricsServer(opts: {
  registry: Registry
  host?: string
  port?: number
}): Promise<MetricsServer> {
  const host = opts.host ?? '127.0.0.1'
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method !== 'GET' || path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    opts.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
      (e) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(e)}\n`),
    )
  })
  const l = await listenHttp(server, host, opts.port ?? DEFAULT_METRICS_PORT)
  return { url: `${l.base}${METRICS_PATH}`, port: l.port, close: l.close }
}
