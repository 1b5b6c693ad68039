// A minimal Server-Sent Events reader for the dashboard tests (node:http, loopback): connects, splits the stream
// into messages ({event, data}), and lets a test wait for a message or for the stream's end.
import { get, type IncomingMessage } from 'node:http'

export interface SseMessage {
  event: string
  data: string
}

export interface SseStream {
  status: number
  contentType: string
  messages: SseMessage[]
  /** resolves with the first message (already received or later) matching `pred` */
  next(pred: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>
  /** resolves when the server ended the stream */
  ended: Promise<void>
  close(): void
}

export function openSse(url: string): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res: IncomingMessage) => {
      const messages: SseMessage[] = []
      const waiters = new Set<() => void>()
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let i = buf.indexOf('\n\n')
        while (i >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          let event = 'message'
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7)
            else if (line.startsWith('data: ')) data.push(line.slice(6))
          }
          if (data.length > 0) messages.push({ event, data: data.join('\n') })
          i = buf.indexOf('\n\n')
        }
        for (const w of waiters) w()
      })
      const ended = new Promise<void>((r) => {
        res.on('end', r)
        res.on('close', r)
      })
      resolve({
        status: res.statusCode ?? 0,
        contentType: String(res.headers['content-type']),
        messages,
        ended,
        next(pred, timeoutMs = 10_000) {
          return new Promise((ok, fail) => {
            const check = () => {
              const m = messages.find(pred)
              if (!m) return
              waiters.delete(check)
              clearTimeout(timer)
              ok(m)
            }
            const timer = setTimeout(() => {
              waiters.delete(check)
              fail(new Error(`no matching SSE message within ${timeoutMs} ms (${messages.length} received)`))
            }, timeoutMs)
            waiters.add(check)
            check()
          })
        },
        close: () => req.destroy(),
      })
    })
    req.on('error', reject)
  })
}
