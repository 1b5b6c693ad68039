// The small protocol every node offers until the eth layer lands (issue 4): `devp2p-actors/1`, two messages,
// so two of our nodes share a capability (geth's addPeerChecks drops peers with none as UselessPeer) and a test
// can measure a round trip through the whole stack. Not part of any Ethereum spec.
//
// Messages (codes relative to the protocol's offset):
//   0x00 Ping [nonce: uint ≤ 8 bytes]   answered at once with Pong [nonce]
//   0x01 Pong [nonce: uint ≤ 8 bytes]   settles the ping() waiting for that nonce
// A malformed message fails run() with INVALID_MESSAGE (→ DiscProtocolError, geth errInvalidMsg); run() resolves
// only when the peer is done (its rw ends), so the protocol never drops a healthy peer by itself.
//
// API: createBuiltinProtocol() → BuiltinProtocol (a Protocol) with ping(id) → round-trip ms, and peers()
import type { Subscription } from 'rxjs'
import { bytesToHex } from '../codecs/bytes.ts'
import type { NodeId } from '../codecs/node.ts'
import { asBigUint, asList, rlpDecode, rlpEncode } from '../codecs/rlp.ts'
import { type MsgReadWriter, type PeerHandle, type Protocol, ProtocolError } from '../machines/protocol.ts'

export const BUILTIN_PROTOCOL_NAME = 'devp2p-actors'
export const BUILTIN_PROTOCOL_VERSION = 1
export const BUILTIN_PROTOCOL_LENGTH = 2
export const BUILTIN_MSG = { ping: 0x00, pong: 0x01 } as const
/** How long ping() waits for the Pong by default. */
export const BUILTIN_PING_TIMEOUT_MS = 5_000

export interface BuiltinProtocol extends Protocol {
  /** send Ping to a connected peer running the protocol; resolves with the round trip in ms */
  ping(id: NodeId | string, timeoutMs?: number): Promise<number>
  /** ids (hex) of the peers currently running the protocol */
  peers(): string[]
}

interface Session {
  rw: MsgReadWriter
  waiting: Map<bigint, { resolve(ms: number): void; reject(e: unknown): void; sentAt: number }>
}

function decodeNonce(payload: Uint8Array): bigint {
  try {
    return asBigUint(asList(rlpDecode(payload), 'ping', 1)[0], 'nonce', 8)
  } catch (e) {
    throw new ProtocolError('INVALID_MESSAGE', `bad ${BUILTIN_PROTOCOL_NAME} message: ${String(e)}`)
  }
}

export function createBuiltinProtocol(): BuiltinProtocol {
  const sessions = new Map<string, Session>()
  let nextNonce = 1n

  const run = (peer: PeerHandle, rw: MsgReadWriter): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const id = bytesToHex(peer.id)
      const session: Session = { rw, waiting: new Map() }
      sessions.set(id, session)
      let sub: Subscription | undefined
      const end = (error?: unknown) => {
        if (sessions.get(id) === session) sessions.delete(id)
        for (const w of session.waiting.values()) w.reject(new ProtocolError('SHUTTING_DOWN', 'peer dropped'))
        session.waiting.clear()
        sub?.unsubscribe()
        if (error === undefined) resolve()
        else reject(error)
      }
      sub = rw.messages$.subscribe({
        next: (m) => {
          try {
            if (m.code === BUILTIN_MSG.ping) {
              const nonce = decodeNonce(m.payload)
              rw.send(BUILTIN_MSG.pong, rlpEncode([nonce])).catch(() => {})
            } else if (m.code === BUILTIN_MSG.pong) {
              const nonce = decodeNonce(m.payload)
              const w = session.waiting.get(nonce)
              if (w) {
                session.waiting.delete(nonce)
                w.resolve(performance.now() - w.sentAt)
              }
            }
          } catch (e) {
            end(e)
          }
        },
        error: (e) => end(e),
        complete: () => end(),
      })
    })

  return {
    name: BUILTIN_PROTOCOL_NAME,
    version: BUILTIN_PROTOCOL_VERSION,
    length: BUILTIN_PROTOCOL_LENGTH,
    run,
    nodeInfo: () => ({ version: BUILTIN_PROTOCOL_VERSION }),
    peerInfo: (id) => (sessions.has(bytesToHex(id)) ? { version: BUILTIN_PROTOCOL_VERSION } : null),
    peers: () => [...sessions.keys()],
    ping(id, timeoutMs = BUILTIN_PING_TIMEOUT_MS) {
      const key = typeof id === 'string' ? id.toLowerCase() : bytesToHex(id)
      const session = sessions.get(key)
      if (!session)
        return Promise.reject(new ProtocolError('SHUTTING_DOWN', `no ${BUILTIN_PROTOCOL_NAME} peer ${key}`))
      const nonce = nextNonce++
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          session.waiting.delete(nonce)
          reject(new ProtocolError('INVALID_MESSAGE', 'ping timeout'))
        }, timeoutMs)
        session.waiting.set(nonce, {
          sentAt: performance.now(),
          resolve: (ms) => {
            clearTimeout(timer)
            resolve(ms)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        })
        session.rw.send(BUILTIN_MSG.ping, rlpEncode([nonce])).catch((e) => {
          session.waiting.get(nonce)?.reject(e)
          session.waiting.delete(nonce)
        })
      })
    },
  }
}
