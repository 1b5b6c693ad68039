// devp2p-actors public API: re-exports of the pure layers (crypto, codecs) and, as they land, the actors.

export * from './codecs/bytes.ts'
export * from './codecs/discv4.ts'
export * from './codecs/enode.ts'
export * from './codecs/enr.ts'
export * from './codecs/errors.ts'
export * from './codecs/forkid.ts'
export * from './codecs/p2p.ts'
export * from './codecs/rlp.ts'
export * from './crypto/backend.ts'
export * from './crypto/keccak.ts'
export * from './crypto/keys.ts'
export * from './crypto/secp256k1.ts'
