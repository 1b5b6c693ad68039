// @ethereumjs/devp2p 10 behind the bench seam (bench/procs/impl.ts), with TCP_NODELAY patched in by the interop
// harness (as shipped its header and body writes stall on Nagle, ANCHORS.md).
import type { Peer } from '@ethereumjs/devp2p'
import { peerSocket, rawProtocol, startEthjsNode } from '../../tests/interop/ethjs-harness.ts'
import { BENCH_CAP, type BenchConn, type BenchImpl } from './impl.ts'

function conn(peer: Peer): BenchConn {
  const proto = rawProtocol(peer, BENCH_CAP.name)
  const socket = peerSocket(peer)
  const closed = new Promise<void>((resolve) => {
    if (socket.closed) resolve()
    else socket.once('close', () => resolve())
  })
  return {
    closed,
    send(code, payload) {
      proto.send(code, payload)
      if (!socket.writableNeedDrain) return undefined
      return new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done)
          socket.off('close', done)
          resolve()
        }
        socket.on('drain', done)
        socket.on('close', done)
      })
    },
    onMessage(cb) {
      proto.onMessage = (m) => cb(m.code, m.payload)
    },
    close() {
      if (socket.closed) return Promise.resolve()
      return new Promise<void>((resolve) => {
        socket.once('close', () => resolve())
        socket.destroy()
      })
    },
  }
}

export const ethjsImpl: BenchImpl = {
  name: 'ethjs',
  async start({ listen, maxPeers }) {
    const node = await startEthjsNode({
      caps: [BENCH_CAP],
      listen,
      maxPeers,
      clientId: 'ethjs-bench',
      keepPeers: false,
    })
    return {
      pubkey: node.pubkey,
      port: node.port,
      async dial(pubkey, port) {
        return conn(await node.dial(pubkey, port, 30_000))
      },
      onPeer(cb) {
        node.rlpx.events.on('peer:added', (p) => cb(conn(p)))
      },
      close: () => node.close(),
    }
  },
}
