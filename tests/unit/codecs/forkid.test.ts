// Fork ids: gatherForks rules, CRC32 chaining, strict RLP, and the filter accepting the local id everywhere.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { crc32 } from 'node:zlib'
import fc from 'fast-check'
import { bytesToHex, hexToBytes } from '../../../codecs/bytes.ts'
import { DecodeError } from '../../../codecs/errors.ts'
import {
  type ChainForks,
  checksumUpdate,
  computeForkId,
  decodeForkId,
  encodeForkId,
  ForkIdError,
  gatherForks,
  newForkIdFilter,
} from '../../../codecs/forkid.ts'
import { rlpEncode } from '../../../codecs/rlp.ts'

const GENESIS = hexToBytes('d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3')

describe('gatherForks (geth)', () => {
  it('sorts, de-duplicates, drops block 0 and time forks at or before genesis', () => {
    const g = gatherForks({
      genesisHash: GENESIS,
      genesisTime: 100,
      blocks: [5, 0, 5, 3, 0],
      times: [150, 100, 50, 150, 200],
    })
    assert.deepEqual(g, { blocks: [3n, 5n], times: [150n, 200n] })
  })
  it('a time fork at the genesis timestamp is part of genesis (geth TestTimeBasedForkInGenesis logic)', () => {
    const cfg: ChainForks = { genesisHash: GENESIS, genesisTime: 1000, blocks: [0], times: [1000, 2000] }
    const id = computeForkId(cfg, 0, 1000)
    assert.equal(bytesToHex(id.hash), crc32(GENESIS).toString(16).padStart(8, '0'))
    assert.equal(id.next, 2000n)
    const after = computeForkId(cfg, 5, 2000)
    assert.equal(after.next, 0n)
    assert.equal(
      bytesToHex(after.hash),
      crc32(Uint8Array.of(...GENESIS, 0, 0, 0, 0, 0, 0, 0x07, 0xd0))
        .toString(16)
        .padStart(8, '0'),
    )
  })
})

describe('checksumUpdate', () => {
  it('equals CRC32 of the concatenation with the 8-byte big-endian fork', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        (blob, fork) => {
          const be = new Uint8Array(8)
          new DataView(be.buffer).setBigUint64(0, fork)
          assert.equal(checksumUpdate(crc32(blob), fork), crc32(Uint8Array.of(...blob, ...be)))
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('fork id RLP', () => {
  it('encode ∘ decode = identity', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        (hash, next) => {
          const back = decodeForkId(encodeForkId({ hash, next }))
          assert.equal(bytesToHex(back.hash), bytesToHex(hash))
          assert.equal(back.next, next)
        },
      ),
      { numRuns: 500 },
    )
  })
  it('rejects wrong shapes like geth decoding forkid.ID', () => {
    const h = hexToBytes('deadbeef')
    for (const bytes of [
      rlpEncode([h, 1, 2]),
      rlpEncode([h]),
      rlpEncode([hexToBytes('deadbeefaa'), 1]),
      rlpEncode([h, new Uint8Array(9).fill(1)]),
      rlpEncode([h, Uint8Array.of(0, 1)]),
      rlpEncode([[h], 1]),
      rlpEncode(h),
    ])
      assert.throws(() => decodeForkId(bytes), DecodeError, bytesToHex(bytes))
    assert.throws(() => encodeForkId({ hash: h, next: 1n << 64n }), RangeError)
  })
  it('random bytes decode or throw DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (b) => {
        try {
          decodeForkId(b)
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e
        }
      }),
      { numRuns: 1000 },
    )
  })
})

describe('newForkIdFilter', () => {
  const cfg: ChainForks = {
    genesisHash: GENESIS,
    blocks: [1150000, 1920000, 2463000, 15050000],
    times: [1681338455, 1710338135],
  }
  it('always accepts our own fork id, at any head', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 30_000_000n }),
        fc.bigInt({ min: 0n, max: 2_000_000_000n }),
        (block, time) => {
          const filter = newForkIdFilter(cfg, () => ({ block, time }))
          assert.equal(filter(computeForkId(cfg, block, time)), null)
        },
      ),
      { numRuns: 500 },
    )
  })
  it('returns ForkIdError values with geth text', () => {
    const filter = newForkIdFilter(cfg, () => ({ block: 20_000_000, time: 1_700_000_000 }))
    const e = filter({ hash: hexToBytes('12345678'), next: 0n })
    assert.ok(e instanceof ForkIdError)
    assert.equal(e.code, 'ErrLocalIncompatibleOrStale')
    assert.equal(e.message, 'local incompatible or needs update')
    const stale = filter({ ...computeForkId(cfg, 20_000_000, 0), next: 0n })
    assert.equal(stale?.code, 'ErrRemoteStale')
    assert.equal(stale?.message, 'remote needs update')
  })
})
