// The eth layer's request path beside @ethereumjs/devp2p's ETH in the same run, on 127.0.0.1 in one process per
// implementation pair: one peer asks the other for 192 headers at a time (geth's downloader batch,
// MaxHeaderFetch), one request after the other, for BENCH_MS. Ours: two createServer nodes with
// createEthProtocols, the serving side answering from an EthChainReader (machines/eth-serve.ts), the asking side
// with EthPeer.getBlockHeaders (raw RLP headers back). ethjs: two RLPx nodes with its ETH (eth/68 both sides, as
// ethjs has no eth/69); ethjs serves nothing itself, so its serving side is a 'message' handler over the same
// headers, pre-decoded. Headers are ~540 bytes (about a mainnet header). Both pairs run eth/68.
import { randomInt } from 'node:crypto'
import type { Peer } from '@ethereumjs/devp2p'
import { firstValueFrom } from 'rxjs'
import { filter } from 'rxjs/operators'
import { createEthProtocols, type EthPeer, staticEthChain } from '../actors/eth.ts'
import { createServer } from '../actors/server.ts'
import { bytesToHex } from '../codecs/bytes.ts'
import { formatEnode } from '../codecs/enode.ts'
import { type RlpInput, rlpDecode, uintToBytes } from '../codecs/rlp.ts'
import { generatePrivateKey } from '../crypto/secp256k1.ts'
import { MAINNET_FORKS, PRAGUE_HEAD, syntheticChain } from '../tests/fixtures/eth-chain.ts'
import { ethProtocol, startEthjsNode } from '../tests/interop/ethjs-harness.ts'
import { type Row, report } from './lib.ts'

const MS = Number(process.env.BENCH_MS ?? 2000)
const BATCH = 192
const CHAIN = 4096
const { blocks, reader } = syntheticChain(CHAIN, 500)

interface Result {
  reqPerSec: number
  medianMs: number
}

async function timed(ask: (origin: number) => Promise<number>): Promise<Result> {
  const lat: number[] = []
  const until = performance.now() + MS
  // warm-up
  for (let i = 0; i < 50; i++) await ask(randomInt(CHAIN - BATCH))
  const t0 = performance.now()
  while (performance.now() < until) {
    const s = performance.now()
    const n = await ask(randomInt(CHAIN - BATCH))
    if (n !== BATCH) throw new Error(`got ${n} headers`)
    lat.push(performance.now() - s)
  }
  lat.sort((a, b) => a - b)
  return { reqPerSec: (lat.length * 1000) / (performance.now() - t0), medianMs: lat[lat.length >> 1]! }
}

async function ours(): Promise<Result> {
  const chain = (withReader: boolean) =>
    staticEthChain({ networkId: 1n, forks: MAINNET_FORKS, head: PRAGUE_HEAD, ...(withReader && { reader }) })
  const a = createEthProtocols({ chain: chain(true), versions: [68] })
  const b = createEthProtocols({ chain: chain(false), versions: [68] })
  const mk = (protocols: typeof a.protocols) =>
    createServer({
      privateKey: generatePrivateKey(),
      listenAddr: '127.0.0.1:0',
      noDiscovery: true,
      protocols,
    })
  const sa = mk(a.protocols)
  const sb = mk(b.protocols)
  await Promise.all([sa.start(), sb.start()])
  try {
    const joined = firstValueFrom(b.peerEvents$.pipe(filter((e) => e.type === 'join')))
    sb.addPeer(formatEnode(sa.self()))
    const j = await joined
    const peer = (j as { peer: EthPeer }).peer
    return await timed(
      async (origin) =>
        (
          await peer.getBlockHeaders({
            origin: { number: BigInt(origin) },
            amount: BigInt(BATCH),
            skip: 0n,
            reverse: false,
          })
        ).length,
    )
  } finally {
    await Promise.all([sa.stop(), sb.stop()])
  }
}

async function ethjs(): Promise<Result> {
  const decoded = blocks.map((b) => rlpDecode(b.header) as RlpInput)
  const server = await startEthjsNode({ realEth: true, keepPeers: false })
  const client = await startEthjsNode({ realEth: true, listen: false, keepPeers: false })
  try {
    const served = server.nextPeer(5000)
    const peer: Peer = await client.dial(server.pubkey, server.port)
    const sPeer = await served
    const status = { td: uintToBytes(1n), bestHash: PRAGUE_HEAD.hash, genesisHash: MAINNET_FORKS.genesisHash }
    const cEth = ethProtocol(peer)
    const sEth = ethProtocol(sPeer)
    const ready = Promise.all([cEth, sEth].map((e) => new Promise((r) => e.events.once('status', r))))
    cEth.sendStatus(status)
    sEth.sendStatus(status)
    await ready
    sEth.events.on('message', (code: number, payload: unknown) => {
      if (code !== 0x03) return
      const [id, q] = payload as [Uint8Array, Uint8Array[]]
      const from = Number(BigInt(`0x${bytesToHex(q[0]!) || '0'}`))
      const amount = Number(BigInt(`0x${bytesToHex(q[1]!) || '0'}`))
      sEth.sendMessage(0x04, [id, decoded.slice(from, from + amount)] as never)
    })
    let id = 0n
    const waiting = new Map<string, (n: number) => void>()
    cEth.events.on('message', (code: number, payload: unknown) => {
      if (code !== 0x04) return
      const [rid, headers] = payload as [Uint8Array, unknown[]]
      const k = bytesToHex(rid)
      waiting.get(k)?.(headers.length)
      waiting.delete(k)
    })
    return await timed(
      (origin) =>
        new Promise<number>((resolve) => {
          const rid = uintToBytes(++id)
          waiting.set(bytesToHex(rid), resolve)
          cEth.sendMessage(0x03, [
            rid,
            [uintToBytes(origin), uintToBytes(BATCH), uintToBytes(0), uintToBytes(0)],
          ])
        }),
    )
  } finally {
    await client.close()
    await server.close()
  }
}

const o = await ours()
const e = await ethjs()
const rows: Row[] = [
  {
    name: `GetBlockHeaders of ${BATCH} headers, one after another`,
    unit: 'req/s',
    ours: o.reqPerSec,
    ethjs: e.reqPerSec,
  },
  {
    name: '… headers per second',
    unit: 'headers/s',
    ours: o.reqPerSec * BATCH,
    ethjs: e.reqPerSec * BATCH,
  },
  { name: '… round trip, median (lower is better)', unit: 'ms', ours: o.medianMs, ethjs: e.medianMs },
]
report('eth: header requests between two nodes on 127.0.0.1 (eth/68, ~540-byte headers)', rows)
