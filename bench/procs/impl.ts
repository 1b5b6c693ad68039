// The seam between the two-process RLPx benchmarks and an implementation (ours or @ethereumjs/devp2p): a node
// that dials or accepts connections speaking one "bench/1" sub-protocol (length 4), each connection handed out
// after both Hellos. The bench protocol: 0 = data, 1 = fin (answered by 2 = fin-ack carrying the count of data
// messages received as 4 bytes), 3 = echo request/response.
export const BENCH_CAP = { name: 'bench', version: 1, length: 4 } as const
export const BENCH_MSG = { data: 0, fin: 1, finAck: 2, echo: 3 } as const

export interface BenchConn {
  /**
   * Send one bench message (code relative to the protocol). Returns a promise when the caller must wait before
   * sending more (back-pressure), otherwise undefined.
   */
  send(code: number, payload: Uint8Array): Promise<void> | undefined
  /** Every bench message received on this connection. */
  onMessage(cb: (code: number, payload: Uint8Array) => void): void
  /** Drop the TCP connection (no Disconnect) and resolve once the socket is closed on our side. */
  close(): Promise<void>
  /** Resolves once the connection is gone (either side closed it). */
  closed: Promise<void>
}

export interface BenchNode {
  pubkey: Uint8Array
  /** listening port, 0 when not listening */
  port: number
  /** Dial 127.0.0.1:port and resolve after both Hellos. */
  dial(pubkey: Uint8Array, port: number): Promise<BenchConn>
  /** Inbound connections after both Hellos. */
  onPeer(cb: (c: BenchConn) => void): void
  close(): Promise<void>
}

export interface BenchImpl {
  name: string
  start(opts: { listen: boolean; maxPeers: number }): Promise<BenchNode>
}

/** This process's memory once garbage has settled (4 full GCs 50 ms apart; the process runs with --expose-gc). */
export async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 4; i++) {
    gc?.()
    await new Promise((r) => setTimeout(r, 50))
  }
  return process.memoryUsage()
}
