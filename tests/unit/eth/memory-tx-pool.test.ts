// actors/memory-tx-pool.ts: keyed by hash, new transactions reported once with their origin, oldest evicted
// beyond the bound, and served by hash.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EthPoolTx } from '../../../actors/eth-handler.ts'
import { MemoryTxPool } from '../../../actors/memory-tx-pool.ts'
import { transactionInfo } from '../../../codecs/eth.ts'
import { rlpEncode } from '../../../codecs/rlp.ts'

const tx = (n: number): EthPoolTx => {
  const rlp = rlpEncode([n, 1, 21000, new Uint8Array(20), 0, new Uint8Array(0)])
  return { rlp, ...transactionInfo(rlp) }
}

describe('memory transaction pool', () => {
  it('reports only what is new to it, with the peer it came from', () => {
    const added: [number, string | undefined][] = []
    const pool = new MemoryTxPool({ onAdded: (txs, from) => added.push([txs.length, from]) })
    pool.add([tx(1), tx(2)], 'aa')
    pool.add([tx(2), tx(3)], 'bb')
    pool.add([tx(3)], 'cc')
    const local = pool.addLocal(tx(4).rlp)
    assert.deepEqual(added, [
      [2, 'aa'],
      [1, 'bb'],
      [1, undefined],
    ])
    assert.equal(pool.size, 4)
    assert.ok(pool.has(tx(3).hash))
    assert.deepEqual(pool.get(local.hash), tx(4).rlp)
    assert.equal(pool.get(tx(9).hash), undefined)
  })

  it('evicts the oldest beyond its bound', () => {
    const pool = new MemoryTxPool({ max: 2 })
    pool.add([tx(1), tx(2), tx(3)], 'aa')
    assert.equal(pool.size, 2)
    assert.equal(pool.has(tx(1).hash), false)
    assert.ok(pool.has(tx(3).hash))
  })
})
