// devp2p-actors public API: re-exports of the pure layers (crypto, codecs) and, as they land, the actors.

export {
  BUILTIN_PROTOCOL_NAME,
  BUILTIN_PROTOCOL_VERSION,
  type BuiltinProtocol,
  createBuiltinProtocol,
} from './actors/builtin-protocol.ts'
export * from './actors/discovery/ip-tracker.ts'
export * from './actors/discovery/local-node.ts'
export * from './actors/discovery/netutil.ts'
export * from './actors/discovery/nodedb.ts'
export * from './actors/discovery/ntp.ts'
export * from './actors/discovery/service.ts'
export * from './actors/discovery/table.ts'
export * from './actors/dnsdisc.ts'
export * from './actors/eth.ts'
export * from './actors/eth-handler.ts'
export { INBOUND_THROTTLE_MS, type Listener, type ListenerOptions, listen } from './actors/listener.ts'
export * from './actors/memory-tx-pool.ts'
export {
  createServerMetrics,
  type HandshakeErrorCause,
  registerTxFetcherMetrics,
  type ServerMetrics,
} from './actors/metrics.ts'
export * from './actors/metrics-http.ts'
export * from './actors/nat.ts'
export * from './actors/peer.ts'
export * from './actors/peer-dropper.ts'
export * from './actors/rlpx-connection.ts'
export * from './actors/rpc-api.ts'
export * from './actors/rpc-http.ts'
export {
  createServer,
  type Server,
  type ServerConfig,
  type ServerLogger,
  type ServerPeer,
  type ServerSnapshot,
  serverDefaults,
} from './actors/server.ts'
// geth's PeerEvent JSON (add / drop / msgsend / msgrecv) shadows the peer machine's event union here
export type { NodeInfo, PeerEvent, PeerInfo, ServerStats } from './actors/server-info.ts'
export * from './actors/udp.ts'
export { applyServerV8Flags, SERVER_V8_FLAGS } from './actors/v8-tuning.ts'
export * from './codecs/bytes.ts'
export * from './codecs/chains.ts'
export * from './codecs/discv4.ts'
export * from './codecs/dnsdisc.ts'
export * from './codecs/enode.ts'
export * from './codecs/enr.ts'
export * from './codecs/errors.ts'
export * from './codecs/eth.ts'
export * from './codecs/forkid.ts'
export * from './codecs/kad.ts'
export * from './codecs/p2p.ts'
export * from './codecs/rlp.ts'
export * from './codecs/rlpx-frame.ts'
export * from './codecs/rlpx-handshake.ts'
export * from './codecs/snappy.ts'
export * from './crypto/aes.ts'
export * from './crypto/backend.ts'
export * from './crypto/ecies.ts'
export * from './crypto/keccak.ts'
export * from './crypto/keys.ts'
export * from './crypto/rlpx-mac.ts'
export * from './crypto/secp256k1.ts'
export * from './machines/actor-system.ts'
export * from './machines/checkpoints.ts'
export * from './machines/dial.machine.ts'
export * as dialScheduler from './machines/dial-scheduler.ts'
export * from './machines/eth-broadcast.ts'
export * from './machines/eth-peer.machine.ts'
export * from './machines/eth-serve.ts'
export * from './machines/inbound-peers.ts'
export * from './machines/lookup.machine.ts'
export * from './machines/peer.machine.ts'
export * from './machines/peer-actors.ts'
export * from './machines/peer-dropper.ts'
export * from './machines/protocol.ts'
export * from './machines/server.machine.ts'
export * from './machines/tx-fetcher.ts'
