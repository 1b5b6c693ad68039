// An in-memory transaction pool for createEthProtocols({ txPool }) — for devnets and tests, not a real pool: it
// keeps transactions by hash (network encoding) up to a bound, oldest evicted first, and checks nothing beyond
// what the eth layer already did (no signatures, nonces or prices). What is new to it is reported through
// `onAdded`, where an application does what geth's handler does with the pool's NewTxsEvent: broadcast it.
//
// API
//   new MemoryTxPool({ max?, onAdded? })   max default MEMORY_TX_POOL_MAX
//   .has(hash) / .add(txs, from)            EthTxPool (actors/eth.ts)
//   .addLocal(rlp) → EthPoolTx              a transaction of our own (from: undefined in onAdded)
//   .get(hash)                              its network encoding: an EthChainReader's pooledTransaction
//   .size
import { bytesToHex } from '../codecs/bytes.ts'
import { transactionInfo } from '../codecs/eth.ts'
import type { EthTxPool } from './eth.ts'
import type { EthPoolTx } from './eth-handler.ts'

/** Transactions kept by default (geth's legacy pool holds 5120 executable + 1024 queued by default). */
export const MEMORY_TX_POOL_MAX = 4096

export class MemoryTxPool implements EthTxPool {
  private readonly txs = new Map<string, EthPoolTx>()
  private readonly max: number

  constructor(
    private readonly opts: {
      max?: number
      /** the transactions that were new to the pool, and the peer (node id hex) they came from */
      onAdded?: (txs: EthPoolTx[], from: string | undefined) => void
    } = {},
  ) {
    this.max = opts.max ?? MEMORY_TX_POOL_MAX
  }

  get size(): number {
    return this.txs.size
  }

  has(hash: Uint8Array): boolean {
    return this.txs.has(bytesToHex(hash))
  }

  get(hash: Uint8Array): Uint8Array | undefined {
    return this.txs.get(bytesToHex(hash))?.rlp
  }

  add(txs: readonly EthPoolTx[], from: string | undefined): void {
    const fresh: EthPoolTx[] = []
    for (const t of txs) {
      const k = bytesToHex(t.hash)
      if (this.txs.has(k)) continue
      this.txs.set(k, t)
      fresh.push(t)
      if (this.txs.size > this.max) this.txs.delete(this.txs.keys().next().value!)
    }
    if (fresh.length > 0) this.opts.onAdded?.(fresh, from)
  }

  addLocal(rlp: Uint8Array): EthPoolTx {
    const tx = { rlp, ...transactionInfo(rlp) }
    this.add([tx], undefined)
    return tx
  }
}
