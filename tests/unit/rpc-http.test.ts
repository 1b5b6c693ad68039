// actors/rpc-http.ts: geth's JSON-RPC over HTTP — calls, batches, notifications and geth's error codes and texts
// (answerRpc), and the HTTP checks (health GET, 405, 413, 415, the virtual hosts) on 127.0.0.1.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { answerRpc, RpcError, type RpcMethod, type RpcServer, startRpcServer } from '../../actors/rpc-http.ts'

const methods: Record<string, RpcMethod> = {
  test_echo: { params: ['string'], call: ((s: string) => s) as RpcMethod['call'] },
  test_add: { params: ['number', 'number'], call: ((a: number, b: number) => a + b) as RpcMethod['call'] },
  test_fail: {
    params: [],
    call: () => {
      throw new Error('it failed')
    },
  },
  test_code: {
    params: [],
    call: () => {
      throw new RpcError(-32005, 'limit exceeded')
    },
  },
  test_big: { params: [], call: () => ({ n: 2n ** 70n, b: Uint8Array.of(1, 2) }) },
}
const call = (body: unknown) => answerRpc(methods, JSON.stringify(body))
const req = (method: string, params?: unknown[], id: unknown = 1) => ({
  jsonrpc: '2.0',
  id,
  method,
  ...(params && { params }),
})

describe('JSON-RPC (geth rpc/handler.go)', () => {
  it('answers a call with its id and result; errors with geth codes and texts', async () => {
    assert.deepEqual(await call(req('test_echo', ['hi'], 'a')), { jsonrpc: '2.0', id: 'a', result: 'hi' })
    assert.deepEqual(await call(req('test_add', [2, 3])), { jsonrpc: '2.0', id: 1, result: 5 })
    const err = async (body: unknown) =>
      ((await call(body)) as { error: { code: number; message: string } }).error
    assert.deepEqual(await err(req('nope_x')), {
      code: -32601,
      message: 'the method nope_x does not exist/is not available',
    })
    assert.deepEqual(await err(req('test_echo')), {
      code: -32602,
      message: 'missing value for required argument 0',
    })
    assert.deepEqual(await err(req('test_echo', ['a', 'b'])), {
      code: -32602,
      message: 'too many arguments, want at most 1',
    })
    assert.deepEqual(await err(req('test_echo', [5])), {
      code: -32602,
      message: 'invalid argument 0: json: cannot unmarshal number into Go value of type string',
    })
    assert.deepEqual(await err(req('test_fail')), { code: -32000, message: 'it failed' })
    assert.deepEqual(await err(req('test_code')), { code: -32005, message: 'limit exceeded' })
    assert.deepEqual(await err({ id: 1, method: 'test_echo' }), { code: -32600, message: 'invalid request' })
    assert.deepEqual(await answerRpc(methods, '{"jsonrpc":'), {
      jsonrpc: '2.0',
      id: null,
      error: { code: -32700, message: 'parse error' },
    })
    // the prototype's names are no methods
    assert.equal((await err(req('toString'))).code, -32601)
  })

  it('batches: one reply per call in order, none for notifications; empty and oversized batches fail', async () => {
    const replies = (await call([
      req('test_echo', ['x'], 1),
      { jsonrpc: '2.0', method: 'test_echo', params: ['quiet'] },
      req('nope', [], 2),
    ])) as { id: number }[]
    assert.deepEqual(
      replies.map((r) => r.id),
      [1, 2],
    )
    assert.equal(await call({ jsonrpc: '2.0', method: 'test_echo', params: ['quiet'] }), undefined)
    assert.deepEqual(await call([]), {
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: 'empty batch' },
    })
    const many = Array.from({ length: 1001 }, (_, i) => req('test_echo', ['x'], i))
    assert.deepEqual(await call(many), {
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: 'batch too large' },
    })
  })
})

describe('JSON-RPC over HTTP (geth rpc/http.go, node/rpcstack.go)', () => {
  let s: RpcServer
  before(async () => {
    s = await startRpcServer({ methods, port: 0 })
  })
  after(async () => {
    await s.close()
  })

  /** A raw request (fetch would not let us set Host). */
  const send = (opts: { method?: string; type?: string; host?: string; body?: string }) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = request(
        {
          host: '127.0.0.1',
          port: s.port,
          method: opts.method ?? 'POST',
          headers: {
            ...(opts.type !== undefined && { 'content-type': opts.type }),
            ...(opts.host !== undefined && { host: opts.host }),
          },
        },
        (res) => {
          let body = ''
          res.on('data', (c) => (body += c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        },
      )
      r.on('error', reject)
      r.end(opts.body)
    })

  it('serves calls and batches as JSON; big numbers as text, bytes as 0x hex', async () => {
    const r = await send({ type: 'application/json', body: JSON.stringify(req('test_big')) })
    assert.equal(r.status, 200)
    assert.deepEqual(JSON.parse(r.body), {
      jsonrpc: '2.0',
      id: 1,
      result: { n: (2n ** 70n).toString(), b: '0x0102' },
    })
    assert.equal(s.url, `http://127.0.0.1:${s.port}`)
  })

  it("applies geth's HTTP checks: health GET, 405, 415, 413, virtual hosts", async () => {
    assert.deepEqual(await send({ method: 'GET' }), { status: 200, body: '' })
    assert.equal((await send({ method: 'PUT', type: 'application/json', body: '{}' })).status, 405)
    const wrongType = await send({ type: 'text/plain', body: '{}' })
    assert.equal(wrongType.status, 415)
    assert.equal(wrongType.body.trim(), 'invalid content type, only application/json is supported')
    assert.equal(
      (await send({ type: 'application/json', body: 'x'.repeat(5 * 1024 * 1024 + 1) })).status,
      413,
    )
    const ok = JSON.stringify(req('test_echo', ['v']))
    assert.equal((await send({ type: 'application/json', host: 'localhost:8545', body: ok })).status, 200)
    assert.equal((await send({ type: 'application/json', host: '127.0.0.1', body: ok })).status, 200)
    const evil = await send({ type: 'application/json', host: 'evil.example:8545', body: ok })
    assert.equal(evil.status, 403)
    assert.equal(evil.body.trim(), 'invalid host specified')
  })
})
