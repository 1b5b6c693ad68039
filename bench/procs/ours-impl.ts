// devp2p-actors behind the bench seam (bench/procs/impl.ts): every connection is a whole peer — an
// RlpxConnection under a peer machine started by actors/peer.ts startPeer (ECIES handshake, Hello, checkpoints
// answered by its default supervisor, ping loop) — with the bench protocol run through the Protocol API.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { createCheckpointSupervisor, type PeerSession, startPeer } from '../../actors/peer.ts'
import { keccak256 } from '../../crypto/keccak.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'
import type { MsgReadWriter, Protocol } from '../../machines/protocol.ts'
import { BENCH_CAP, type BenchConn, type BenchImpl } from './impl.ts'

type Sink = { cb?: (code: number, payload: Uint8Array) => void }

/**
 * A bench protocol instance: one subscriber per peer dispatches to `sink.cb` (set by BenchConn.onMessage) and
 * keeps the protocol running until the peer's messages end (a returning `run` would drop the peer).
 */
function benchProtocol(onRun: (rw: MsgReadWriter, sink: Sink) => void): Protocol {
  return {
    ...BENCH_CAP,
    run(_peer, rw) {
      const sink: Sink = {}
      return new Promise<void>((resolve) => {
        rw.messages$.subscribe({
          next: (m) => sink.cb?.(m.code, m.payload),
          complete: resolve,
          error: () => resolve(),
        })
        onRun(rw, sink)
      })
    },
  }
}

function conn(session: PeerSession, rw: MsgReadWriter, sink: Sink): BenchConn {
  return {
    closed: session.closed,
    send: (code, payload) => rw.send(code, payload),
    onMessage(cb) {
      sink.cb = cb
    },
    async close() {
      session.connection.socket.destroy()
      await session.closed
    },
  }
}

export const oursImpl: BenchImpl = {
  name: 'ours',
  async start({ listen }) {
    const privateKey = generatePrivateKey()
    // one supervisor per node answers every peer's checkpoints, as the server supervisor would
    const supervisor = createCheckpointSupervisor()
    const sessions = new Set<PeerSession>()
    const track = (s: PeerSession) => {
      sessions.add(s)
      s.closed.then(() => sessions.delete(s))
      return s
    }
    let onPeer: ((c: BenchConn) => void) | undefined
    let server: Server | undefined
    let port = 0
    if (listen) {
      server = createServer((socket: Socket) => {
        let session: PeerSession | undefined
        const protocol = benchProtocol((rw, sink) => {
          if (session) onPeer?.(conn(session, rw, sink))
        })
        session = track(
          startPeer({ socket, privateKey, protocols: [protocol], name: 'devp2p-actors-bench', supervisor }),
        )
        session.dropped.catch(() => {})
      })
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
      const a = server.address()
      port = typeof a === 'object' && a ? a.port : 0
    }
    return {
      pubkey: publicKeyOf(privateKey),
      port,
      async dial(pubkey, tcpPort) {
        // the peer starts on the connecting socket: the auth is sealed while the TCP handshake is in flight
        // (node holds the write until connected); a refused connect drops the peer, rejecting `ready`
        const socket = tcpConnect(tcpPort, '127.0.0.1')
        let gotRw!: (x: [MsgReadWriter, Sink]) => void
        const rwP = new Promise<[MsgReadWriter, Sink]>((r) => {
          gotRw = r
        })
        const session = track(
          startPeer({
            socket,
            privateKey,
            dialDest: { id: keccak256(pubkey), pubkey },
            protocols: [benchProtocol((rw, sink) => gotRw([rw, sink]))],
            name: 'devp2p-actors-bench',
            supervisor,
          }),
        )
        await session.ready
        const [rw, sink] = await rwP
        return conn(session, rw, sink)
      },
      onPeer(cb) {
        onPeer = cb
      },
      async close() {
        for (const s of sessions) s.connection.socket.destroy()
        await Promise.all([...sessions].map((s) => s.closed))
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
        supervisor.stop()
      },
    }
  },
}
