// A lone EthPeerHandler over a fake read-writer for the handler's unit tests: what it sends is recorded, its
// clock is ours to move, and messages are handed to it as they would arrive.
import assert from 'node:assert/strict'
import { NEVER } from 'rxjs'
import { EthPeerHandler } from '../../actors/eth-handler.ts'
import type { EthVersion } from '../../codecs/eth.ts'
import { EthError } from '../../machines/eth-peer.machine.ts'
import type { EthChainReader } from '../../machines/eth-serve.ts'
import { type Msg, MsgChannel } from '../../machines/protocol.ts'

export const msg = (code: number, payload: Uint8Array): Msg => ({
  code,
  size: payload.length,
  payload,
  receivedAt: 0,
})

export function fakeHandler(version: EthVersion, chain?: EthChainReader) {
  const sent: { code: number; payload: Uint8Array }[] = []
  let clock = 1_000
  const app = new MsgChannel()
  const h = new EthPeerHandler({
    version,
    rw: {
      messages$: NEVER,
      send: async (code, payload) => {
        sent.push({ code, payload })
      },
    },
    app,
    ...(chain && { chain }),
    now: () => clock,
  })
  return { h, sent, app, advance: (ms: number) => (clock += ms) }
}

export const errorOf = (e: unknown): EthError => {
  assert.ok(e instanceof EthError, `expected an EthError, got ${String(e)}`)
  return e
}
