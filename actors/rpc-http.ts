// A node's HTTP JSON-RPC endpoint as geth serves it (`--http --http.addr --http.port --http.api --http.vhosts`;
// go-ethereum rpc/http.go, rpc/handler.go, node/rpcstack.go): JSON-RPC 2.0 over POST, one call or a batch.
//
// Rules (geth's): a GET with no body and no query is a health check (200, empty); PUT and DELETE → 405 "method not
// allowed"; a body over 5 MiB → 413; a content type other than application/json (or application/json-rpc,
// application/jsonrequest) → 415 "invalid content type, only application/json is supported"; a Host header that
// names a host not in the virtual hosts (default localhost; IP addresses always pass, `*` lets every name in) → 403
// "invalid host specified". Then per call: undecodable JSON → -32700 "parse error"; a message that is no call
// (version not "2.0", no method) → -32600 "invalid request"; a notification (no id) gets no answer; an unknown or
// disabled method → -32601 "the method X does not exist/is not available"; bad arguments → -32602 (geth's texts:
// "missing value for required argument 0", "too many arguments, want at most 1", "invalid argument 0: …"); a
// method's own error → -32000 with its text. An empty batch → -32600 "empty batch"; a batch of more than 1000 calls
// → -32600 "batch too large".
//
// API
//   const s = await startRpcServer({ methods, host?: '127.0.0.1', port?: 8545, vhosts?: ['localhost'] })
//     methods: { name: { params: ['string', …] (each argument's JSON type; all required), call(...args) } }
//   s.url, s.port, await s.close()
//   RpcError(code, message)          throw it from a method for another code than -32000
import { createServer, type IncomingMessage } from 'node:http'
import { listenHttp } from './http-listen.ts'

/** geth node.DefaultHTTPPort */
export const DEFAULT_RPC_PORT = 8545
/** geth rpc defaultBodyLimit */
export const RPC_BODY_LIMIT = 5 * 1024 * 1024
/** geth rpc BatchRequestLimit */
export const RPC_BATCH_LIMIT = 1000
const ACCEPTED_TYPES = ['application/json', 'application/json-rpc', 'application/jsonrequest']

/** A JSON-RPC error with its code (geth rpc.Error). */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
    this.name = 'RpcError'
  }
}

export type RpcParamType = 'string' | 'number' | 'boolean'

export interface RpcMethod {
  /** the JSON type of each argument, in order (all required) */
  params: readonly RpcParamType[]
  call(...args: never[]): unknown
}

export interface RpcServer {
  url: string
  port: number
  close(): Promise<void>
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Reply = { jsonrpc: '2.0'; id: Json; result?: unknown; error?: { code: number; message: string } }

const fail = (id: Json, code: number, message: string): Reply => ({
  jsonrpc: '2.0',
  id,
  error: { code, message },
})

/** Go's json type names in geth's unmarshal errors. */
const GO_TYPE: Record<RpcParamType, string> = { string: 'string', number: 'uint64', boolean: 'bool' }
const jsonKind = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v

/** geth's argument checks (rpc/json.go parsePositionalArguments): count, then each type. */
function checkParams(m: RpcMethod, params: unknown): unknown[] {
  if (params !== undefined && params !== null && !Array.isArray(params))
    throw new RpcError(-32602, 'non-array args')
  const args = (params as unknown[] | undefined | null) ?? []
  if (args.length > m.params.length)
    throw new RpcError(-32602, `too many arguments, want at most ${m.params.length}`)
  for (let i = 0; i < m.params.length; i++) {
    if (i >= args.length || args[i] === null)
      throw new RpcError(-32602, `missing value for required argument ${i}`)
    if (typeof args[i] !== m.params[i])
      throw new RpcError(
        -32602,
        `invalid argument ${i}: json: cannot unmarshal ${jsonKind(args[i])} into Go value of type ${GO_TYPE[m.params[i]!]}`,
      )
  }
  return args
}

/** One message of a call or batch: its reply, or undefined for a notification. */
async function handleOne(
  methods: Readonly<Record<string, RpcMethod>>,
  msg: unknown,
): Promise<Reply | undefined> {
  const o = (typeof msg === 'object' && msg !== null && !Array.isArray(msg) ? msg : {}) as Record<
    string,
    unknown
  >
  const id = (o.id ?? null) as Json
  if (o.jsonrpc !== '2.0' || typeof o.method !== 'string' || o.method === '')
    return fail(id, -32600, 'invalid request')
  const notification = !('id' in o)
  const m = Object.hasOwn(methods, o.method) ? methods[o.method] : undefined
  let reply: Reply
  if (m === undefined) reply = fail(id, -32601, `the method ${o.method} does not exist/is not available`)
  else
    try {
      const args = checkParams(m, o.params)
      reply = {
        jsonrpc: '2.0',
        id,
        result: (await (m.call as (...a: unknown[]) => unknown)(...args)) ?? null,
      }
    } catch (e) {
      reply =
        e instanceof RpcError
          ? fail(id, e.code, e.message)
          : fail(id, -32000, e instanceof Error ? e.message : String(e))
    }
  return notification ? undefined : reply
}

/** The body of a POST: its JSON-RPC answer (undefined: nothing to send, all notifications). */
export async function answerRpc(
  methods: Readonly<Record<string, RpcMethod>>,
  body: string,
): Promise<unknown | undefined> {
  let msg: unknown
  try {
    msg = JSON.parse(body)
  } catch {
    return fail(null, -32700, 'parse error')
  }
  if (!Array.isArray(msg)) return handleOne(methods, msg)
  if (msg.length === 0) return fail(null, -32600, 'empty batch')
  if (msg.length > RPC_BATCH_LIMIT) return fail(null, -32600, 'batch too large')
  const replies = await Promise.all(msg.map((m) => handleOne(methods, m)))
  const out = replies.filter((r) => r !== undefined)
  return out.length > 0 ? out : undefined
}

/** Results as geth marshals them: big integers as decimal text, bytes as 0x hex. */
function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`
  return v
}

/** geth's virtual host check: IP addresses pass, names must be listed (or `*`). */
function hostAllowed(req: IncomingMessage, vhosts: ReadonlySet<string>): boolean {
  const raw = req.headers.host ?? ''
  const host = (raw.startsWith('[') ? raw.slice(1, raw.indexOf(']')) : raw.replace(/:\d+$/, '')).toLowerCase()
  if (host === '' || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':')) return true
  return vhosts.has('*') || vhosts.has(host)
}

export async function startRpcServer(opts: {
  methods: Readonly<Record<string, RpcMethod>>
  host?: string
  port?: number
  vhosts?: readonly string[]
}): Promise<RpcServer> {
  const host = opts.host ?? '127.0.0.1'
  const vhosts = new Set((opts.vhosts ?? ['localhost']).map((h) => h.toLowerCase()))
  const server = createServer((req, res) => {
    const text = (code: number, body: string) =>
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(`${body}\n`)
    if (!hostAllowed(req, vhosts)) return text(403, 'invalid host specified')
    const query = (req.url ?? '').includes('?')
    const length = Number(req.headers['content-length'] ?? 0)
    if (req.method === 'GET' && length === 0 && !query && req.headers['transfer-encoding'] === undefined)
      return res.writeHead(200).end()
    if (req.method === 'PUT' || req.method === 'DELETE') return text(405, 'method not allowed')
    if (length > RPC_BODY_LIMIT) return text(413, `content length too large (${length}>${RPC_BODY_LIMIT})`)
    if (req.method === 'OPTIONS') return res.writeHead(200).end()
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (!ACCEPTED_TYPES.includes(type))
      return text(415, 'invalid content type, only application/json is supported')
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > RPC_BODY_LIMIT) {
        text(413, `content length too large (>${RPC_BODY_LIMIT})`)
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => {
      if (size > RPC_BODY_LIMIT) return
      answerRpc(opts.methods, Buffer.concat(chunks).toString('utf8')).then((answer) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(answer === undefined ? '' : `${JSON.stringify(answer, jsonValue)}\n`)
      })
    })
  })
  const l = await listenHttp(server, host, opts.port ?? DEFAULT_RPC_PORT)
  return { url: l.base, port: l.port, close: l.close }
}
