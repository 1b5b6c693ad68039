// Benchmark: discv4 packet encode/decode (sign + hash / hash check + recover) beside @ethereumjs/devp2p's
// dpt message encode/decode in the same run, on our fast and noble crypto paths; plus the RLP-only part of
// the codec and the p2p Hello / Disconnect codec (ethjs has no standalone Hello codec: its Peer builds it inline).
import { decode as ethjsDecode, encode as ethjsEncode } from '@ethereumjs/devp2p'
import { hexToBytes } from '../codecs/bytes.ts'
import {
  type Discv4Packet,
  decodePacket,
  decodePacketData,
  encodePacket,
  encodePacketData,
} from '../codecs/discv4.ts'
import { decodeDisconnect, decodeHello, encodeDisconnect, encodeHello, type Hello } from '../codecs/p2p.ts'
import { setCryptoBackend } from '../crypto/backend.ts'
import { hasNativeSecp256k1, publicKeyOf } from '../crypto/secp256k1.ts'
import { measure, type Row, report } from './lib.ts'

const MS = Number(process.env.BENCH_MS ?? 600)
const key = hexToBytes('b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291')
const now = 1_700_000_000
const exp = BigInt(now + 20)

const ping: Discv4Packet = {
  type: 'ping',
  version: 4,
  from: { ip: '10.0.0.1', udp: 30303, tcp: 30303 },
  to: { ip: '192.168.1.20', udp: 30303, tcp: 0 },
  expiration: exp,
  enrSeq: 42n,
}
const nodes = Array.from({ length: 12 }, (_, i) => ({
  ip: `10.0.${i}.1`,
  udp: 30303,
  tcp: 30303,
  pubkey: publicKeyOf(hexToBytes((i + 1).toString(16).padStart(64, '0'))),
}))
const neighbors: Discv4Packet = { type: 'neighbors', nodes, expiration: exp }

// The same packets in ethjs's dpt message shapes (ethjs writes a 4-byte timestamp, no enr-seq).
const ethjsPing = {
  version: 4,
  from: { address: '10.0.0.1', udpPort: 30303, tcpPort: 30303 },
  to: { address: '192.168.1.20', udpPort: 30303, tcpPort: 0 },
  timestamp: now + 20,
}
const ethjsNeighbours = {
  peers: nodes.map((n) => ({ address: n.ip, udpPort: n.udp, tcpPort: n.tcp, id: n.pubkey })),
  timestamp: now + 20,
}

const hello: Hello = {
  version: 5,
  name: 'devp2p-actors/v0.1.0/linux-x64/node20',
  caps: [
    { name: 'eth', version: 68 },
    { name: 'eth', version: 69 },
    { name: 'snap', version: 1 },
  ],
  listenPort: 30303,
  id: publicKeyOf(key),
}

async function main(): Promise<void> {
  const rows: Row[] = []
  const ethjsPingBytes = ethjsEncode('ping', ethjsPing, key)
  const ethjsNbBytes = ethjsEncode('neighbours', ethjsNeighbours, key)
  const e = {
    pingEnc: (await measure(() => ethjsEncode('ping', ethjsPing, key), MS)).opsPerSec,
    nbEnc: (await measure(() => ethjsEncode('neighbours', ethjsNeighbours, key), MS)).opsPerSec,
    pingDec: (await measure(() => ethjsDecode(ethjsPingBytes), MS)).opsPerSec,
    nbDec: (await measure(() => ethjsDecode(ethjsNbBytes), MS)).opsPerSec,
  }

  const backends = hasNativeSecp256k1 ? (['fast', 'noble'] as const) : (['noble'] as const)
  for (const b of backends) {
    setCryptoBackend(b)
    const pingBytes = encodePacket(key, ping).bytes
    const nbBytes = encodePacket(key, neighbors).bytes
    rows.push(
      {
        name: `Ping encode (sign) [${b}]`,
        unit: 'ops/s',
        ours: (await measure(() => encodePacket(key, ping), MS)).opsPerSec,
        ethjs: e.pingEnc,
      },
      {
        name: `Ping decode (recover) [${b}]`,
        unit: 'ops/s',
        ours: (await measure(() => decodePacket(pingBytes), MS)).opsPerSec,
        ethjs: e.pingDec,
      },
      {
        name: `Neighbors×12 encode [${b}]`,
        unit: 'ops/s',
        ours: (await measure(() => encodePacket(key, neighbors), MS)).opsPerSec,
        ethjs: e.nbEnc,
      },
      {
        name: `Neighbors×12 decode [${b}]`,
        unit: 'ops/s',
        ours: (await measure(() => decodePacket(nbBytes), MS)).opsPerSec,
        ethjs: e.nbDec,
      },
    )
  }
  setCryptoBackend('fast')

  const pingData = encodePacketData(ping)
  const nbData = encodePacketData(neighbors)
  rows.push(
    {
      name: 'Ping RLP only: encode',
      unit: 'ops/s',
      ours: (await measure(() => encodePacketData(ping), MS)).opsPerSec,
    },
    {
      name: 'Ping RLP only: decode',
      unit: 'ops/s',
      ours: (await measure(() => decodePacketData(pingData[0]!, pingData.subarray(1)), MS)).opsPerSec,
    },
    {
      name: 'Neighbors×12 RLP only: encode',
      unit: 'ops/s',
      ours: (await measure(() => encodePacketData(neighbors), MS)).opsPerSec,
    },
    {
      name: 'Neighbors×12 RLP only: decode',
      unit: 'ops/s',
      ours: (await measure(() => decodePacketData(nbData[0]!, nbData.subarray(1)), MS)).opsPerSec,
    },
  )
  report('discv4 packet codec (ethjs: @ethereumjs/devp2p dpt encode/decode, noble crypto)', rows)

  const helloBytes = encodeHello(hello)
  const disc = encodeDisconnect(4)
  report('p2p base protocol codec (no ethjs equivalent: its Hello is built inside Peer)', [
    { name: 'Hello encode', unit: 'ops/s', ours: (await measure(() => encodeHello(hello), MS)).opsPerSec },
    {
      name: 'Hello decode',
      unit: 'ops/s',
      ours: (await measure(() => decodeHello(helloBytes), MS)).opsPerSec,
    },
    {
      name: 'Disconnect decode',
      unit: 'ops/s',
      ours: (await measure(() => decodeDisconnect(disc), MS)).opsPerSec,
    },
  ])
}

await main()
