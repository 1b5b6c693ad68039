// XState inspection → dashboard PeerUpdates (createServer's `inspect` option, DESIGN.md §1 "every actor is
// inspectable"). Every peer is a child of its node's supervisor whose id starts with `peer:` (`peer:in:<n>` for
// inbound ones; child ids are reused when a peer ends, so actors are keyed by their sessionId). Only
// `@xstate.snapshot` events of peer machines are read: value, status, output ({reason, requestedByRemote}) and
// the public facts the machine records (inbound, remote id, the remote Hello's name and caps). Pure.
//
// API
//   peerUpdateOf(inspectionEvent) → PeerUpdate | undefined (undefined for everything that is not a peer snapshot)
//   ethUpdateOf(inspectionEvent)  → EthUpdate | undefined: snapshots of eth-peer machines (the `inspect` option of
//                                   createEthProtocols; each eth-peer is the root of its own actor system)
import type { InspectionEvent } from 'xstate'
import { bytesToHex } from '../../codecs/bytes.ts'
import type { EthUpdate, PeerUpdate } from './aggregate.ts'

/** The fields of a peer machine's context the dashboard reads (machines/peer.machine.ts PeerContext). */
interface PeerContextView {
  inbound?: unknown
  remoteId?: unknown
  hello?: { name?: unknown; caps?: unknown }
  reason?: unknown
  requestedByRemote?: unknown
}

interface SnapshotView {
  value?: unknown
  status?: unknown
  context?: PeerContextView
  output?: { reason?: unknown; requestedByRemote?: unknown }
}

const isPeerActorId = (id: string) => id.startsWith('peer:')

export function peerUpdateOf(ev: InspectionEvent): PeerUpdate | undefined {
  if (ev.type !== '@xstate.snapshot') return undefined
  const ref = ev.actorRef as { id?: unknown; sessionId?: unknown }
  if (typeof ref.id !== 'string' || !isPeerActorId(ref.id)) return undefined
  const s = ev.snapshot as SnapshotView
  const ctx = s.context
  if (s.value === undefined || typeof s.status !== 'string' || !ctx) return undefined
  const u: PeerUpdate = {
    key: String(ref.sessionId),
    actor: ref.id,
    value: s.value,
    status: s.status,
  }
  if (typeof ctx.inbound === 'boolean') u.inbound = ctx.inbound
  if (ctx.remoteId instanceof Uint8Array) u.id = bytesToHex(ctx.remoteId)
  const hello = ctx.hello
  if (hello && typeof hello.name === 'string') u.name = hello.name
  if (hello && Array.isArray(hello.caps))
    u.caps = (hello.caps as { name?: unknown; version?: unknown }[]).map((c) => `${c.name}/${c.version}`)
  const reason = s.output?.reason ?? ctx.reason
  if (typeof reason === 'number') {
    u.reason = reason
    u.requestedByRemote = (s.output?.requestedByRemote ?? ctx.requestedByRemote) === true
  }
  return u
}

export function ethUpdateOf(ev: InspectionEvent): EthUpdate | undefined {
  if (ev.type !== '@xstate.snapshot') return undefined
  const ref = ev.actorRef as { sessionId?: unknown; logic?: { id?: unknown } }
  if (ref.logic?.id !== 'ethPeer') return undefined
  const s = ev.snapshot as SnapshotView
  if (s.value === undefined || typeof s.status !== 'string') return undefined
  return { key: String(ref.sessionId), value: s.value, status: s.status }
}
