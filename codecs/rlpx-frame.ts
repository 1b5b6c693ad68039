// RLPx framing after the handshake (devp2p rlpx.md "Framing", "Message Compression"; geth p2p/rlpx/rlpx.go
// Conn.Read/Write, sessionState.readFrame/writeFrame): AES-256-CTR (zero IV, one stream per direction),
// keccak MACs from crypto/rlpx-mac.ts, optional snappy.
//
// frame = header-ciphertext(16) || header-mac(16) || frame-ciphertext(size rounded up to 16) || frame-mac(16)
//   header plaintext = frame-size(3, big-endian) || c2 80 80 (header-data rlp([0, 0])) || zero padding
//   frame plaintext  = rlp(msg-code) || msg-data || zero padding
//
// API (FrameCoder; `new FrameCoder(secrets)` is also the initWithSecrets test seam)
//   encode(code, payload) → Uint8Array   one buffer holding the whole frame (write it with one socket write)
//   push(chunk)                          append received bytes (kept as a chunk list; never mutated)
//   read() → RlpxMessage | null          the next whole message, or null until more bytes arrive
//   setSnappy(on)                        compress on encode / decompress on read from now on (call it after
//                                        Hello; read() is pull-based, so messages still buffered are decoded
//                                        with the setting in force when they are read)
//   bufferedBytes                        bytes pushed and not yet consumed
//   options: maxFrameSize, maxMessageSize (both default 2^24−1, geth maxUint24)
// Typical connection loop: socket.on('data', c => { coder.push(c); for (let m; (m = coder.read()); ) emit(m) })
// with read() errors caught and turned into a disconnect.
// Reader checks, in geth's order: header MAC before decrypting the header (BAD_HEADER_MAC); frame size
// against maxFrameSize (FRAME_TOO_BIG); frame MAC before decrypting the body (BAD_FRAME_MAC); message code
// (BAD_MESSAGE / RLP_NON_CANONICAL / INT_TOO_LARGE); with snappy, the varint-declared length against
// maxMessageSize BEFORE decompressing (MESSAGE_TOO_BIG), then the strict decoder (SNAPPY_INVALID).
// A MAC or size failure leaves the cipher/MAC state unusable: the coder is then poisoned and every later
// read() throws the same error. Errors after the frame MAC checked out (code, snappy) consume just that frame
// and carry `details.data` (the raw message data; the whole frame content when the code itself is bad) and
// `details.code` when it decoded: the connection may inspect them (e.g. an uncompressed Disconnect from
// @ethereumjs/devp2p with snappy on) and keep reading.
// encode throws DecodeError MESSAGE_TOO_BIG for a payload > 2^24−1 bytes and FRAME_TOO_BIG when
// rlp(code) || data exceeds 2^24−1 (geth errPlainMessageTooLarge in Conn.Write / writeFrame).
import { AES_BLOCK_SIZE, type AesCtr, createAesCtr } from '../crypto/aes.ts'
import { RLPX_MAC_SIZE, type RlpxMac } from '../crypto/rlpx-mac.ts'
import { DecodeError } from './errors.ts'
import { MAX_UNCOMPRESSED_SIZE, snappyCompress, snappyUncompress } from './snappy.ts'

/** geth p2p/rlpx maxUint24: frame sizes are 3 bytes */
export const MAX_FRAME_SIZE = 0xffffff
export const FRAME_HEADER_SIZE = 32
/** geth p2p/rlpx zeroHeader: header-data = rlp([0, 0]) */
const ZERO_HEADER = [0xc2, 0x80, 0x80] as const

/** The parts of the handshake Secrets the frame coder needs. */
export interface FrameSecrets {
  aes: Uint8Array
  egressMac: RlpxMac
  ingressMac: RlpxMac
}

export interface RlpxMessage {
  code: number
  /** the message data, decompressed when snappy is on */
  payload: Uint8Array
  /** bytes of message data on the wire (compressed size when snappy is on; geth wireSize) */
  wireSize: number
}

export interface FrameCoderOptions {
  /** largest accepted frame size (default 2^24−1) */
  maxFrameSize?: number
  /** largest accepted decompressed message (default 2^24−1) */
  maxMessageSize?: number
}

const padded = (n: number) => (n + 15) & ~15

function encodeCode(code: number): Uint8Array {
  if (!Number.isSafeInteger(code) || code < 0) throw new RangeError(`bad message code ${code}`)
  if (code === 0) return Uint8Array.of(0x80)
  if (code < 0x80) return Uint8Array.of(code)
  const bytes: number[] = []
  for (let c = code; c > 0; c = Math.floor(c / 256)) bytes.unshift(c % 256)
  return Uint8Array.of(0x80 + bytes.length, ...bytes)
}

/** geth rlp.SplitUint64: the canonical RLP uint at the start of the frame and where the data starts. */
function decodeCode(frame: Uint8Array): { code: number; start: number } {
  if (frame.length === 0) throw new DecodeError('BAD_MESSAGE', 'empty frame: no message code')
  const b0 = frame[0]!
  if (b0 < 0x80) return { code: b0, start: 1 }
  if (b0 >= 0xc0) throw new DecodeError('BAD_MESSAGE', 'message code is a list')
  if (b0 >= 0xb8) throw new DecodeError('INT_TOO_LARGE', 'message code larger than 8 bytes')
  const len = b0 - 0x80
  if (len > 6) throw new DecodeError('INT_TOO_LARGE', `message code of ${len} bytes`)
  if (1 + len > frame.length) throw new DecodeError('BAD_MESSAGE', 'truncated message code')
  if (len >= 1 && frame[1] === 0) throw new DecodeError('RLP_NON_CANONICAL', 'message code with leading zero')
  if (len === 1 && frame[1]! < 0x80) throw new DecodeError('RLP_NON_CANONICAL', 'single-byte code as string')
  let code = 0
  for (let i = 1; i <= len; i++) code = code * 256 + frame[i]!
  return { code, start: 1 + len }
}

function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  let d = 0
  for (let i = 0; i < RLPX_MAC_SIZE; i++) d |= a[i]! ^ b[i]!
  return d === 0
}

export class FrameCoder {
  private readonly enc: AesCtr
  private readonly dec: AesCtr
  private readonly egressMac: RlpxMac
  private readonly ingressMac: RlpxMac
  private readonly maxFrameSize: number
  private readonly maxMessageSize: number
  private snappyOn = false

  // receive buffer: a list of chunks, `head` bytes of chunks[first] already consumed
  private chunks: Uint8Array[] = []
  private first = 0
  private head = 0
  private buffered = 0
  /** frame size from a verified header whose body is still awaited, or -1 */
  private pendingSize = -1
  private failed: DecodeError | null = null

  constructor(secrets: FrameSecrets, opts: FrameCoderOptions = {}) {
    if (secrets.aes.length !== 32) throw new RangeError(`aes-secret of ${secrets.aes.length} bytes`)
    this.enc = createAesCtr(secrets.aes)
    this.dec = createAesCtr(secrets.aes)
    this.egressMac = secrets.egressMac
    this.ingressMac = secrets.ingressMac
    this.maxFrameSize = opts.maxFrameSize ?? MAX_FRAME_SIZE
    this.maxMessageSize = opts.maxMessageSize ?? MAX_UNCOMPRESSED_SIZE
  }

  setSnappy(on: boolean): void {
    this.snappyOn = on
  }

  get snappy(): boolean {
    return this.snappyOn
  }

  /** Bytes pushed but not yet consumed by read(). */
  get bufferedBytes(): number {
    return this.buffered
  }

  /** Seal one message into a frame (geth Conn.Write + writeFrame). */
  encode(code: number, payload: Uint8Array): Uint8Array {
    if (payload.length > MAX_UNCOMPRESSED_SIZE)
      throw new DecodeError('MESSAGE_TOO_BIG', `message of ${payload.length} bytes`, {
        size: payload.length,
        max: MAX_UNCOMPRESSED_SIZE,
      })
    const data = this.snappyOn ? snappyCompress(payload) : payload
    const codeBytes = encodeCode(code)
    const fsize = codeBytes.length + data.length
    if (fsize > MAX_FRAME_SIZE)
      throw new DecodeError('FRAME_TOO_BIG', `frame of ${fsize} bytes`, { size: fsize, max: MAX_FRAME_SIZE })
    const rsize = padded(fsize)
    const out = new Uint8Array(FRAME_HEADER_SIZE + rsize + RLPX_MAC_SIZE)
    // plaintext header in the header-MAC slot, right before the body: one keystream call for both
    const plainHeader = out.subarray(AES_BLOCK_SIZE, FRAME_HEADER_SIZE)
    plainHeader[0] = fsize >>> 16
    plainHeader[1] = (fsize >>> 8) & 0xff
    plainHeader[2] = fsize & 0xff
    plainHeader.set(ZERO_HEADER, 3)
    const body = out.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + rsize)
    body.set(codeBytes)
    body.set(data, codeBytes.length)
    const stream = out.subarray(AES_BLOCK_SIZE, FRAME_HEADER_SIZE + rsize)
    this.enc.update(stream, stream)
    out.copyWithin(0, AES_BLOCK_SIZE, FRAME_HEADER_SIZE)
    out.set(this.egressMac.updateHeader(out.subarray(0, AES_BLOCK_SIZE)), AES_BLOCK_SIZE)
    out.set(this.egressMac.updateBody(body), FRAME_HEADER_SIZE + rsize)
    return out
  }

  /** Append bytes received from the socket. The chunk is kept by reference and never modified. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /** The next whole message, or null when more bytes are needed. Throws DecodeError (see the top). */
  read(): RlpxMessage | null {
    if (this.failed) throw this.failed
    let frame: Uint8Array
    try {
      if (this.pendingSize < 0) {
        if (this.buffered < FRAME_HEADER_SIZE) return null
        this.pendingSize = this.readHeader(this.take(FRAME_HEADER_SIZE))
      }
      const need = padded(this.pendingSize) + RLPX_MAC_SIZE
      if (this.buffered < need) return null
      frame = this.readBody(this.take(need), this.pendingSize)
      this.pendingSize = -1
    } catch (e) {
      if (e instanceof DecodeError) this.failed = e
      throw e
    }
    return this.decodeMessage(frame)
  }

  /** Verify the header MAC, then decrypt and return the frame size. */
  private readHeader(h: Uint8Array): number {
    const ct = h.subarray(0, AES_BLOCK_SIZE)
    if (!macEqual(this.ingressMac.updateHeader(ct), h.subarray(AES_BLOCK_SIZE)))
      throw new DecodeError('BAD_HEADER_MAC', 'bad header MAC')
    const plain = this.dec.update(ct)
    const size = (plain[0]! << 16) | (plain[1]! << 8) | plain[2]!
    if (size > this.maxFrameSize)
      throw new DecodeError('FRAME_TOO_BIG', `frame of ${size} bytes`, { size, max: this.maxFrameSize })
    return size
  }

  /** Verify the frame MAC, then decrypt and return the unpadded frame (rlp(code) || data). */
  private readBody(b: Uint8Array, size: number): Uint8Array {
    const rsize = b.length - RLPX_MAC_SIZE
    const ct = b.subarray(0, rsize)
    if (!macEqual(this.ingressMac.updateBody(ct), b.subarray(rsize)))
      throw new DecodeError('BAD_FRAME_MAC', 'bad frame MAC')
    return this.dec.update(ct).subarray(0, size)
  }

  private decodeMessage(frame: Uint8Array): RlpxMessage {
    let c: { code: number; start: number }
    try {
      c = decodeCode(frame)
    } catch (e) {
      if (e instanceof DecodeError) e.details.data = frame
      throw e
    }
    const data = frame.subarray(c.start)
    if (!this.snappyOn) return { code: c.code, payload: data, wireSize: data.length }
    try {
      return { code: c.code, payload: snappyUncompress(data, this.maxMessageSize), wireSize: data.length }
    } catch (e) {
      if (e instanceof DecodeError) Object.assign(e.details, { code: c.code, data })
      throw e
    }
  }

  /** Remove and return the next n buffered bytes (a view when they sit in one chunk, else one copy). */
  private take(n: number): Uint8Array {
    const c = this.chunks[this.first]!
    this.buffered -= n
    if (c.length - this.head >= n) {
      const v = c.subarray(this.head, this.head + n)
      this.head += n
      if (this.head === c.length) this.advance()
      return v
    }
    const out = new Uint8Array(n)
    let o = 0
    while (o < n) {
      const cur = this.chunks[this.first]!
      const k = Math.min(n - o, cur.length - this.head)
      out.set(cur.subarray(this.head, this.head + k), o)
      o += k
      this.head += k
      if (this.head === cur.length) this.advance()
    }
    return out
  }

  private advance(): void {
    this.first++
    this.head = 0
    if (this.first === this.chunks.length) {
      this.chunks = []
      this.first = 0
    } else if (this.first >= 1024 && this.first * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.first)
      this.first = 0
    }
  }
}
