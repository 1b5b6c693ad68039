// The node type shared by every layer (DESIGN.md §3a): a node id is keccak256 of the 64-byte public key.
import type { Enr } from './enr.ts'

/** 32-byte node id = keccak256(64-byte uncompressed public key without 0x04). */
export type NodeId = Uint8Array

export interface Node {
  id: NodeId
  /** 64-byte X||Y public key */
  pubkey: Uint8Array
  ip?: string
  tcp?: number
  udp?: number
  /** DNS name from an enode URL (geth Node.Hostname); resolved by the dialer, never by the codecs */
  hostname?: string
  record?: Enr
}
