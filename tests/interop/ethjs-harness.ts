// Test and bench harness around @ethereumjs/devp2p 10's RLPx (the independent interop peer, ANCHORS.md
// "Interop facts"): starts an ethjs node on 127.0.0.1 with TCP_NODELAY on every socket, custom capabilities
// served by a raw protocol (sub-protocol payloads in and out as plain bytes, codes relative to the offset), and
// a close() that leaves no socket, interval or timer behind.
//
// Patches applied once to ethjs's classes (test processes only):
// - RLPx._onConnect sets TCP_NODELAY (ethjs writes header and body separately; with Nagle on every exchange
//   stalls 40–88 ms) and records the socket so close() can destroy it;
// - Peer._sendDisconnect's 2 s "end the socket later" timer is unref'd so it cannot hold a process open;
// - Peer._handleMessage also emits `interop:base (code, payload)` on peer.events, so tests see every base
//   protocol message ethjs receives (Disconnect reason, Pong, …) as ethjs decoded it.
import type { Socket } from 'node:net'
import { Common, Mainnet } from '@ethereumjs/common'
import { type Capabilities, ETH, Peer, RLPx } from '@ethereumjs/devp2p'
import { compress } from 'snappyjs'
import { NETWORKS } from '../../codecs/chains.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'

export interface EthjsCap {
  name: string
  version: number
  length: number
}

export interface RawMessage {
  /** code relative to the protocol's offset */
  code: number
  /** decompressed payload, as ethjs hands it to a sub-protocol */
  payload: Uint8Array
}

/** ethjs's Disconnect/close as seen on its Peer's `close` event. */
export interface EthjsClose {
  reason: number | undefined
  disconnectWe: boolean | null
}

type Waiter<T> = { pred: (x: T) => boolean; resolve: (x: T) => void }

/** A queue that resolves waiters in order of arrival and keeps what nobody waited for. */
export class Inbox<T> {
  readonly all: T[] = []
  private waiters: Waiter<T>[] = []
  /** keep: remember every item (tests); false: hand items to waiters only (benches, no growth) */
  constructor(private readonly keep = true) {}
  push(x: T): void {
    if (this.keep) this.all.push(x)
    const i = this.waiters.findIndex((w) => w.pred(x))
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(x)
  }
  /** The first item ever received that matches, or the next one to arrive. */
  wait(pred: (x: T) => boolean = () => true, timeoutMs = 5000, what = 'message'): Promise<T> {
    const seen = this.all.find(pred)
    if (seen !== undefined) return Promise.resolve(seen)
    return this.next(pred, timeoutMs, what)
  }
  /** The next matching item to arrive (ignores those already received). */
  next(pred: (x: T) => boolean = () => true, timeoutMs = 5000, what = 'message'): Promise<T> {
    const w: Waiter<T> = { pred, resolve: () => {} }
    const p = new Promise<T>((resolve) => {
      w.resolve = resolve
      this.waiters.push(w)
    })
    return withTimeout(p, timeoutMs, `no ${what} within ${timeoutMs} ms`).finally(() => {
      const i = this.waiters.indexOf(w)
      if (i >= 0) this.waiters.splice(i, 1)
    })
  }
}

/** Resolve or reject like `p`, or reject with `message` after `ms` (the timer never outlives the race). */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

/**
 * The sub-protocol object ethjs instantiates per peer and capability: `new C(version, peer, send)`. It keeps
 * every received message (ethjs already decompressed it) and sends raw payloads, snappy-compressing them itself
 * when the remote Hello says version ≥ 5 (ethjs's Peer leaves compression of sub-protocol messages to them).
 * With `onMessage` set (benches), messages go there instead of being kept.
 */
export class RawProtocol {
  readonly inbox = new Inbox<RawMessage>()
  onMessage: ((m: RawMessage) => void) | undefined
  constructor(
    readonly version: number,
    readonly peer: Peer,
    private readonly sendRaw: (code: number, data: Uint8Array) => void,
    readonly name: string,
  ) {}
  /** Called by ethjs's Peer with the code relative to our offset. */
  _handleMessage(code: number, payload: Uint8Array): void {
    const m = { code, payload }
    if (this.onMessage) this.onMessage(m)
    else this.inbox.push(m)
  }
  send(code: number, payload: Uint8Array): void {
    const v = this.peer.getHelloMessage()?.protocolVersion ?? 0
    this.sendRaw(code, v >= 5 ? compress(payload) : payload)
  }
  wait(code?: number, timeoutMs = 5000): Promise<RawMessage> {
    return this.inbox.wait((m) => code === undefined || m.code === code, timeoutMs, `${this.name} message`)
  }
}

function protocolClass(name: string): Capabilities['constructor'] {
  class Named extends RawProtocol {
    constructor(version: number, peer: Peer, send: (code: number, data: Uint8Array) => void) {
      super(version, peer, send, name)
    }
  }
  return Named as unknown as Capabilities['constructor']
}

/** ethjs's own ETH protocol, its 5 s Status timer cleared when the node closes (ethjs never unrefs it). */
const ethInstances = new WeakMap<RLPx, Set<ETH>>()
function trackedEth(rlpx: () => RLPx): Capabilities['constructor'] {
  class TrackedETH extends ETH {
    constructor(version: number, peer: Peer, send: (code: number, data: Uint8Array) => void) {
      super(version, peer, send)
      const set = ethInstances.get(rlpx()) ?? new Set<ETH>()
      ethInstances.set(rlpx(), set)
      set.add(this)
    }
  }
  return TrackedETH as unknown as Capabilities['constructor']
}

/** The ETH protocol ethjs runs on `peer` (nodes started with `realEth`). */
export function ethProtocol(peer: Peer): ETH {
  const p = peer.getProtocols().find((x) => x instanceof ETH)
  if (!p) throw new Error('ethjs peer has no ETH protocol')
  return p as ETH
}

/** The head hash ethjs's Status announces in the eth tests. */
export const ETHJS_HEAD = new Uint8Array(32).fill(0x44)

/** ethjs's side of the eth/68 handshake: its Status out (mainnet, head ETHJS_HEAD), the remote's as ethjs decoded it. */
export function ethjsStatus(
  peer: Peer,
): Promise<{ chainId: Uint8Array; forkId: Uint8Array[]; genesisHash: Uint8Array }> {
  const eth = ethProtocol(peer)
  const got = withTimeout(
    new Promise<{ chainId: Uint8Array; forkId: Uint8Array[]; genesisHash: Uint8Array }>((resolve) =>
      eth.events.once('status', (s: { chainId: Uint8Array; forkId: Uint8Array[]; genesisHash: Uint8Array }) =>
        resolve(s),
      ),
    ),
    5000,
    'ethjs got no Status',
  )
  try {
    eth.sendStatus({
      td: Uint8Array.of(1),
      bestHash: ETHJS_HEAD,
      genesisHash: NETWORKS.mainnet.forks.genesisHash,
    })
  } catch {
    // ethjs checks synchronously inside sendStatus when the remote Status came first
  }
  return got
}

/** The RawProtocol ethjs created on `peer` for capability `name`. */
export function rawProtocol(peer: Peer, name: string): RawProtocol {
  const p = (peer.getProtocols() as unknown as RawProtocol[]).find((x) => x.name === name)
  if (!p) throw new Error(`ethjs peer has no ${name} protocol`)
  return p
}

/** Every base protocol message (code < 16) the ethjs peer received, decoded as ethjs decodes it. */
export function baseInbox(peer: Peer): Inbox<{ code: number; payload: unknown }> {
  const p = peer as Peer & { __interopBase?: Inbox<{ code: number; payload: unknown }> }
  p.__interopBase ??= new Inbox()
  return p.__interopBase
}

/** Resolves when ethjs's peer emits `close` (only peers that completed Hello emit it). */
export function peerClosed(peer: Peer, timeoutMs = 5000): Promise<EthjsClose> {
  return withTimeout(
    new Promise<EthjsClose>((resolve) =>
      peer.events.once('close', (reason: number | undefined, disconnectWe: boolean | null) =>
        resolve({ reason, disconnectWe }),
      ),
    ),
    timeoutMs,
    'ethjs peer did not close',
  )
}

/** The TCP socket under an ethjs peer (for back-pressure in benches and forced closes). */
export function peerSocket(peer: Peer): Socket {
  return (peer as unknown as { _socket: Socket })._socket
}

const sockets = new WeakMap<RLPx, Set<Socket>>()
let patched = false

function patchEthjs(): void {
  if (patched) return
  patched = true
  const onConnect = RLPx.prototype._onConnect
  RLPx.prototype._onConnect = function (this: RLPx, socket: Socket, peerId: Uint8Array | null) {
    socket.setNoDelay(true)
    const set = sockets.get(this)
    if (set) {
      set.add(socket)
      socket.once('close', () => set.delete(socket))
    }
    onConnect.call(this, socket, peerId)
  }
  const sendDisconnect = Peer.prototype._sendDisconnect
  Peer.prototype._sendDisconnect = function (this: Peer, reason) {
    const realSetTimeout = globalThis.setTimeout
    globalThis.setTimeout = ((f: () => void, ms?: number) =>
      realSetTimeout(f, ms).unref()) as typeof setTimeout
    try {
      sendDisconnect.call(this, reason)
    } finally {
      globalThis.setTimeout = realSetTimeout
    }
  }
  const handleMessage = Peer.prototype._handleMessage
  Peer.prototype._handleMessage = function (this: Peer, code, msg) {
    baseInbox(this).push({ code, payload: msg })
    handleMessage.call(this, code, msg)
  }
}

export interface EthjsNodeOptions {
  caps?: EthjsCap[]
  clientId?: string
  privateKey?: Uint8Array
  /** listen on 127.0.0.1:0 (default true) */
  listen?: boolean
  maxPeers?: number
  /** ethjs's socket/ping timeout (default 10 s) */
  timeout?: number
  /** keep every added peer in `added.all` (default true; benches pass false) */
  keepPeers?: boolean
  /** run ethjs's own ETH protocol (Status handshake, fork id checks) for `eth` instead of a raw one */
  realEth?: boolean
}

export interface EthjsNode {
  rlpx: RLPx
  privateKey: Uint8Array
  /** 64-byte public key; ethjs calls it the node id */
  pubkey: Uint8Array
  clientId: string
  /** listening TCP port (0 when not listening) */
  port: number
  /** peers that completed Hello with ≥ 1 shared capability, in order */
  added: Inbox<Peer>
  /** dial 127.0.0.1:port and resolve with the ethjs Peer once both Hellos are through */
  dial(pubkey: Uint8Array, port: number, timeoutMs?: number): Promise<Peer>
  /** next peer that completes Hello after this call (dialled or accepted) */
  nextPeer(timeoutMs?: number): Promise<Peer>
  /** the peer with this 64-byte public key that completed Hello (already, or the next one) */
  peerOf(pubkey: Uint8Array, timeoutMs?: number): Promise<Peer>
  /** destroy every socket, stop the server and the refill interval; resolves when the server closed */
  close(): Promise<void>
}

export const DEFAULT_CAPS: EthjsCap[] = [{ name: 'eth', version: 68, length: 17 }]

/** Start an ethjs RLPx node (listening on 127.0.0.1:<ephemeral> unless `listen: false`). */
export async function startEthjsNode(opts: EthjsNodeOptions = {}): Promise<EthjsNode> {
  patchEthjs()
  const privateKey = opts.privateKey ?? generatePrivateKey()
  const clientId = opts.clientId ?? 'ethjs-interop/v10'
  const ethClass = trackedEth(() => rlpx)
  const rlpx: RLPx = new RLPx(privateKey, {
    capabilities: (opts.caps ?? DEFAULT_CAPS).map((c) => ({
      ...c,
      constructor: opts.realEth && c.name === 'eth' ? ethClass : protocolClass(c.name),
    })),
    common: new Common({ chain: Mainnet }),
    clientId: new TextEncoder().encode(clientId),
    maxPeers: opts.maxPeers ?? 25,
    timeout: opts.timeout ?? 10_000,
    listenPort: null,
  })
  const own = new Set<Socket>()
  sockets.set(rlpx, own)
  const added = new Inbox<Peer>(opts.keepPeers ?? true)
  rlpx.events.on('peer:added', (p) => added.push(p))
  rlpx.events.on('peer:error', () => {})
  rlpx.events.on('error', () => {})
  const server = (rlpx as unknown as { _server: import('node:net').Server })._server
  let port = 0
  if (opts.listen !== false) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.once('listening', () => resolve())
      rlpx.listen(0, '127.0.0.1')
    })
    const a = server.address()
    port = typeof a === 'object' && a ? a.port : 0
  }
  const idOf = (p: Peer) => Buffer.from(p.getId() ?? []).toString('hex')
  let closed = false
  return {
    rlpx,
    privateKey,
    pubkey: publicKeyOf(privateKey),
    clientId,
    port,
    added,
    async dial(pubkey, tcpPort, timeoutMs = 5000) {
      const want = Buffer.from(pubkey).toString('hex')
      const p = added.next((x) => idOf(x) === want, timeoutMs, 'Hello from dialled peer')
      await rlpx.connect({ id: pubkey, address: '127.0.0.1', tcpPort }).catch((e) => {
        p.catch(() => {})
        throw e
      })
      return p
    },
    nextPeer(timeoutMs = 5000) {
      return added.next(() => true, timeoutMs, 'peer')
    },
    peerOf(pubkey, timeoutMs = 5000) {
      const want = Buffer.from(pubkey).toString('hex')
      return added.wait((x) => idOf(x) === want, timeoutMs, 'Hello from that peer')
    },
    async close() {
      if (closed) return
      closed = true
      for (const s of own) s.destroy()
      for (const e of ethInstances.get(rlpx) ?? [])
        clearTimeout((e as unknown as { _statusTimeoutId?: NodeJS.Timeout })._statusTimeoutId)
      await new Promise<void>((resolve) => rlpx.destroy(() => resolve()))
    },
  }
}
