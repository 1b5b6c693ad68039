// The dashboard's HTTP side (node:http, loopback only): `GET /` the self-contained page (cli/dashboard/page.ts),
// `GET /state.json` the whole aggregate, `GET /events` Server-Sent Events — one `full` message on connect, then
// `delta` messages at most every `intervalMs` (one JSON.stringify per tick shared by every client). A client
// whose socket is backed up gets no deltas until it drains, then one `full` if a delta was skipped meanwhile, so
// a slow browser can neither grow our memory (at most one message queued beyond the socket) nor make the nodes
// wait. Requests whose Host header is not this loopback address are refused
// (DNS-rebinding guard). close() ends every SSE response and socket and stops the timers.
//
// API
//   const d = await startDashboardServer({ aggregate, port, page?, intervalMs?, keepAliveMs?, host? })
//   d.url ('http://127.0.0.1:PORT/'), d.port, d.clients(), await d.close()
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Aggregate } from './aggregate.ts'
import { renderPage } from './page.ts'

/** Default SSE delta interval: at most 5 messages per second per client. */
export const DASHBOARD_INTERVAL_MS = 200
/** SSE comment sent to idle clients so proxies and browsers keep the stream open. */
export const DASHBOARD_KEEPALIVE_MS = 15_000
/** The EventSource reconnect delay we ask browsers for. */
const SSE_RETRY_MS = 2_000

export interface DashboardServerOptions {
  aggregate: Aggregate
  /** TCP port; 0 = ephemeral */
  port: number
  /** loopback address to bind (default 127.0.0.1) */
  host?: string
  /** the page to serve (default renderPage() of the aggregate's charts) */
  page?: string
  intervalMs?: number
  keepAliveMs?: number
  now?: () => number
}

export interface DashboardServer {
  url: string
  port: number
  /** SSE clients connected */
  clients(): number
  close(): Promise<void>
}

interface Client {
  res: ServerResponse
  /** write() returned false: no deltas until 'drain' */
  blocked: boolean
  /** a delta was skipped while blocked: send a full state on 'drain' */
  stale: boolean
}

export function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  const host = opts.host ?? '127.0.0.1'
  const agg = opts.aggregate
  const now = opts.now ?? Date.now
  const page = opts.page ?? renderPage(agg.full(now()).chart)
  const clients = new Set<Client>()
  let port = 0
  let closed = false

  const send = (c: Client, event: string, data: string) => {
    if (c.res.writableEnded) return
    if (!c.res.write(`event: ${event}\ndata: ${data}\n\n`)) c.blocked = true
  }
  const sendFull = (c: Client) => send(c, 'full', JSON.stringify(agg.full(now())))

  const allowedHost = (req: IncomingMessage) => {
    const h = req.headers.host
    return h === `${host}:${port}` || h === `localhost:${port}` || h === `[::1]:${port}`
  }

  const onEvents = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
    })
    res.write(`retry: ${SSE_RETRY_MS}\n\n`)
    const c: Client = { res, blocked: false, stale: false }
    clients.add(c)
    res.on('drain', () => {
      c.blocked = false
      if (!c.stale) return
      c.stale = false
      sendFull(c)
    })
    const gone = () => clients.delete(c)
    req.on('close', gone)
    res.on('close', gone)
    sendFull(c)
  }

  const server = createServer((req, res) => {
    if (!allowedHost(req)) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('misdirected request\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
        'x-content-type-options': 'nosniff',
      })
      res.end(req.method === 'HEAD' ? undefined : page)
    } else if (path === '/state.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(agg.full(now())))
    } else if (path === '/events' && req.method === 'GET' && !closed) {
      onEvents(req, res)
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
  })

  const flush = () => {
    const t = now()
    agg.prune(t)
    const delta = agg.takeDelta(t)
    if (!delta || clients.size === 0) return
    const data = JSON.stringify(delta)
    for (const c of clients) {
      if (c.blocked) c.stale = true
      else send(c, 'delta', data)
    }
  }
  const tick = setInterval(flush, opts.intervalMs ?? DASHBOARD_INTERVAL_MS)
  const keepAlive = setInterval(() => {
    for (const c of clients) if (!c.blocked && !c.res.writableEnded) c.res.write(': keepalive\n\n')
  }, opts.keepAliveMs ?? DASHBOARD_KEEPALIVE_MS)

  const close = async () => {
    if (closed) return
    closed = true
    clearInterval(tick)
    clearInterval(keepAlive)
    flush() // the last changes (e.g. every supervisor `stopped`) reach the browsers before the streams end
    for (const c of clients) c.res.end()
    clients.clear()
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  return new Promise((resolve, reject) => {
    server.once('error', (e) => {
      clearInterval(tick)
      clearInterval(keepAlive)
      reject(e)
    })
    server.listen(opts.port, host, () => {
      port = (server.address() as AddressInfo).port
      const shown = host.includes(':') ? `[${host}]` : host
      resolve({ url: `http://${shown}:${port}/`, port, clients: () => clients.size, close })
    })
  })
}
