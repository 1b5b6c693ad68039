// The RLPx MAC state (devp2p rlpx.md "MAC"; geth p2p/rlpx/rlpx.go hashMAC): a running keccak-256 state
// seeded at the end of the handshake, updated per frame with an AES-256-ECB(mac-secret) step.
//
//   header-mac = compute(digest(), header-ciphertext)
//   frame-mac  = update(frame-ciphertext); s = digest(); compute(s, s[:16])
//   compute(sum, seed) = update(aes(mac-secret, sum[:16]) XOR seed); digest()[:16]
//
// API
//   new RlpxMac(macSecret, hash?)  hash defaults to crypto/keccak.ts createKeccakState(); injectable so the
//                                  geth frame vector (a fake hash whose digest is always 32 × 0x01) can run
//   update(data) / digest()        the raw running state (the handshake seeds it; `ingress-mac("foo")`)
//   updateHeader(headerCt) → 16-byte header MAC;  updateBody(frameCt) → 16-byte frame MAC
// Returned MACs and digests are fresh arrays.
import { AES_BLOCK_SIZE, type AesBlock, createAesBlock } from './aes.ts'
import { createKeccakState, type KeccakState } from './keccak.ts'

export const RLPX_MAC_SIZE = 16

export class RlpxMac {
  private readonly hash: KeccakState
  private readonly cipher: AesBlock
  /** scratch block | scratch digest (the frame-MAC seed) | last digest, in one buffer (memory per peer) */
  private readonly scratch = new Uint8Array(AES_BLOCK_SIZE + 64)
  private readonly buf = this.scratch.subarray(0, AES_BLOCK_SIZE)
  private readonly seed = this.scratch.subarray(AES_BLOCK_SIZE, AES_BLOCK_SIZE + 32)
  /** the digest of the current state when `haveLast` (nothing was written since it was taken): saves one
   * keccak finalisation per frame, the next header MAC starts from the state the previous frame MAC left */
  private readonly last = this.scratch.subarray(AES_BLOCK_SIZE + 32)
  private haveLast = false

  constructor(macSecret: Uint8Array, hash: KeccakState = createKeccakState()) {
    if (macSecret.length !== 32) throw new RangeError(`mac-secret of ${macSecret.length} bytes`)
    this.cipher = createAesBlock(macSecret)
    this.hash = hash
  }

  update(data: Uint8Array): void {
    this.haveLast = false
    this.hash.update(data)
  }

  digest(): Uint8Array {
    return this.haveLast ? this.last.slice() : this.hash.digest()
  }

  /** MAC of a 16-byte encrypted frame header (geth hashMAC.computeHeader). */
  updateHeader(headerCiphertext: Uint8Array): Uint8Array {
    if (headerCiphertext.length !== AES_BLOCK_SIZE) throw new RangeError('header must be 16 bytes')
    if (!this.haveLast) this.last.set(this.hash.digest())
    return this.compute(this.last, headerCiphertext)
  }

  /** MAC of the encrypted, padded frame data (geth hashMAC.computeFrame). */
  updateBody(frameCiphertext: Uint8Array): Uint8Array {
    this.updateDigest(frameCiphertext, this.seed)
    return this.compute(this.seed, this.seed)
  }

  private updateDigest(data: Uint8Array, out: Uint8Array): void {
    if (this.hash.updateDigest) this.hash.updateDigest(data, out)
    else {
      this.hash.update(data)
      out.set(this.hash.digest())
    }
  }

  private compute(sum: Uint8Array, seed: Uint8Array): Uint8Array {
    const b = this.buf
    this.cipher.encrypt(sum.subarray(0, AES_BLOCK_SIZE), b)
    for (let i = 0; i < AES_BLOCK_SIZE; i++) b[i] = b[i]! ^ seed[i]!
    this.updateDigest(b, this.last)
    this.haveLast = true
    return this.last.slice(0, RLPX_MAC_SIZE)
  }
}
