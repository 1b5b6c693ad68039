// The JSON-RPC methods of a node (go-ethereum node/api.go adminAPI, web3API; internal/ethapi NetAPI) over a
// running server, for actors/rpc-http.ts. Modules as geth names them; `--http.api` picks them (geth's default: net
// and web3; admin only when asked for, as it can add and drop peers).
//
// | method                    | params       | result                                                       |
// |---------------------------|--------------|--------------------------------------------------------------|
// | admin_nodeInfo            | —            | srv.nodeInfo() (geth p2p.NodeInfo)                           |
// | admin_peers               | —            | srv.peersInfo() (geth []p2p.PeerInfo)                        |
// | admin_addPeer             | enode URL    | true (static peer); "invalid enode: …" for a bad URL          |
// | admin_removePeer          | enode URL    | true (static set −, DiscRequested if connected)              |
// | admin_addTrustedPeer      | enode URL    | true                                                         |
// | admin_removeTrustedPeer   | enode URL    | true                                                         |
// | net_listening             | —            | true                                                         |
// | net_peerCount             | —            | peers as a hex quantity ("0x3")                              |
// | net_version               | —            | the eth network id as decimal text (only with an eth chain) |
// | web3_clientVersion        | —            | our client name                                              |
// | web3_sha3                 | 0x hex bytes | keccak256 of them, 0x hex                                    |
//
// API
//   RPC_MODULES, DEFAULT_RPC_MODULES
//   nodeRpcMethods(srv, { modules, networkId? }) → methods for startRpcServer
import { bytesToHex, hexToBytes } from '../codecs/bytes.ts'
import { parseNode } from '../codecs/enode.ts'
import { keccak256 } from '../crypto/keccak.ts'
import type { RpcMethod } from './rpc-http.ts'
import { RpcError } from './rpc-http.ts'
import type { Server } from './server-info.ts'

export const RPC_MODULES = ['admin', 'net', 'web3'] as const
export type RpcModule = (typeof RPC_MODULES)[number]
/** geth node.DefaultConfig HTTPModules */
export const DEFAULT_RPC_MODULES: readonly RpcModule[] = ['net', 'web3']

/** A JSON-RPC method with no arguments. */
const noArgs = (call: () => unknown): RpcMethod => ({ params: [], call })
/** An admin method taking an enode URL (geth: enode.Parse, "invalid enode: …"). */
const byUrl = (call: (url: string) => void): RpcMethod => ({
  params: ['string'],
  call: ((url: string) => {
    try {
      parseNode(url)
    } catch (e) {
      throw new Error(`invalid enode: ${e instanceof Error ? e.message : String(e)}`)
    }
    call(url)
    return true
  }) as RpcMethod['call'],
})

export function nodeRpcMethods(
  srv: Server,
  opts: { modules: readonly RpcModule[]; networkId?: bigint },
): Record<string, RpcMethod> {
  const m: Record<string, RpcMethod> = {}
  const on = new Set(opts.modules)
  if (on.has('admin')) {
    m.admin_nodeInfo = noArgs(() => srv.nodeInfo())
    m.admin_peers = noArgs(() => srv.peersInfo())
    m.admin_addPeer = byUrl((url) => srv.addPeer(url))
    m.admin_removePeer = byUrl((url) => void srv.removePeer(url))
    m.admin_addTrustedPeer = byUrl((url) => srv.addTrustedPeer(url))
    m.admin_removeTrustedPeer = byUrl((url) => srv.removeTrustedPeer(url))
  }
  if (on.has('net')) {
    m.net_listening = noArgs(() => true)
    m.net_peerCount = noArgs(() => `0x${srv.peerCount().toString(16)}`)
    const id = opts.networkId
    if (id !== undefined) m.net_version = noArgs(() => id.toString())
  }
  if (on.has('web3')) {
    m.web3_clientVersion = noArgs(() => srv.nodeInfo().name)
    m.web3_sha3 = {
      params: ['string'],
      call: ((hex: string) => {
        if (!/^0x([0-9a-fA-F]{2})*$/.test(hex))
          throw new RpcError(
            -32602,
            `invalid argument 0: ${/^0x/.test(hex) ? 'invalid hex string' : 'hex string without 0x prefix'}`,
          )
        return `0x${bytesToHex(keccak256(hexToBytes(hex.slice(2))))}`
      }) as RpcMethod['call'],
    }
  }
  return m
}
