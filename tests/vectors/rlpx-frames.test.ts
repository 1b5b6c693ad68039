// RLPx framing against tests/vectors/rlpx-frames.json (geth TestFrameReadWrite): with a fake MAC hash whose
// digest is always 32 × 0x01, writing code 8 with rlp([1,2,3,4]) gives the vector frame and reading it back
// gives the message, on both backends.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { bytesToHex, hexToBytes } from '../../codecs/bytes.ts'
import { FrameCoder } from '../../codecs/rlpx-frame.ts'
import { type CryptoBackend, setCryptoBackend } from '../../crypto/backend.ts'
import type { KeccakState } from '../../crypto/keccak.ts'
import { RlpxMac } from '../../crypto/rlpx-mac.ts'
import v from './rlpx-frames.json' with { type: 'json' }

/** geth's fakeHash: Write ignores its input, Sum returns 32 bytes of 0x01. */
const fakeHash = (): KeccakState => ({ update() {}, digest: () => new Uint8Array(32).fill(1) })

describe('rlpx-frames.json', () => {
  for (const c of v.cases) {
    for (const b of ['fast', 'noble'] as CryptoBackend[]) {
      test(`${c.name} [${b}]`, () => {
        setCryptoBackend(b)
        try {
          const secrets = () => ({
            aes: hexToBytes(c.secrets.aes_secret),
            egressMac: new RlpxMac(hexToBytes(c.secrets.mac_secret), fakeHash()),
            ingressMac: new RlpxMac(hexToBytes(c.secrets.mac_secret), fakeHash()),
          })
          const w = new FrameCoder(secrets())
          w.setSnappy(c.snappy)
          assert.equal(bytesToHex(w.encode(c.msg_code, hexToBytes(c.msg_data_rlp))), c.frame)
          const r = new FrameCoder(secrets())
          r.setSnappy(c.snappy)
          r.push(hexToBytes(c.frame))
          const m = r.read()
          assert.ok(m)
          assert.equal(m.code, c.msg_code)
          assert.equal(bytesToHex(m.payload), c.msg_data_rlp)
          assert.equal(`${m.code.toString(16).padStart(2, '0')}${bytesToHex(m.payload)}`, c.want_content.toLowerCase())
          assert.equal(r.read(), null)
          assert.equal(r.bufferedBytes, 0)
        } finally {
          setCryptoBackend('fast')
        }
      })
    }
  }
})
