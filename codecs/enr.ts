// EIP-778 Ethereum Node Records. (Placeholder type; the codec lands with the foundation issue.)
export interface Enr {
  seq: bigint
  signature: Uint8Array
  /** key → raw value bytes (RLP item bytes as in the record), sorted by key */
  pairs: Map<string, Uint8Array>
  /** the encoded record */
  raw: Uint8Array
}
