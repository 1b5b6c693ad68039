// Crypto backend switch: the fast native/WebAssembly path on Node, the pure-JS noble path as the portable
// fallback. Both run the same vectors in tests. Select with DEVP2P_CRYPTO=noble|fast or setCryptoBackend().
//   seam               fast                                noble
//   secp256k1.ts       `secp256k1` (native libsecp256k1)   @noble/curves (ECDH, recovery, point checks) +
//                                                          @noble/secp256k1 (public keys, signing)
//   keccak.ts          own WebAssembly core (or hash-wasm) @noble/hashes
//   aes.ts (AES-CTR)   node:crypto                         @noble/ciphers (one ECB block: noble on both)
//   ecies.ts           HMAC-SHA-256 from node:crypto           @noble/hashes (the KDF's SHA-256: noble on both)
//   random.ts          node:crypto's CSPRNG on both, drawn 4 KiB at a time
export type CryptoBackend = 'fast' | 'noble'

let current: CryptoBackend = process.env.DEVP2P_CRYPTO === 'noble' ? 'noble' : 'fast'
const listeners: Array<(b: CryptoBackend) => void> = []

export function cryptoBackend(): CryptoBackend {
  return current
}

/** Switch every crypto seam (secp256k1, keccak) to the given backend. */
export function setCryptoBackend(b: CryptoBackend): void {
  current = b
  for (const l of listeners) l(b)
}

/** Internal: a seam registers to be told when the backend changes. */
export function onBackendChange(l: (b: CryptoBackend) => void): void {
  listeners.push(l)
  l(current)
}
