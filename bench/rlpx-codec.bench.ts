// Benchmark: the RLPx codecs beside @ethereumjs/devp2p's ECIES class (its ECIES seal/open, handshake steps
// and frame header/body code) in the same run: ECIES seal/open per second, the whole handshake crypto CPU per
// side on our fast and noble paths, and frame seal+open throughput at 1 KiB and 1 MiB with snappy off and on.
// Frame seal+open = one side encodes, the other pushes and reads: every payload byte is AES-encrypted,
// keccak-MACed, MAC-checked and decrypted once per direction (so two keccak passes per byte).
import { ECIES } from '@ethereumjs/devp2p'
import { compress, uncompress } from 'snappyjs'
import { FrameCoder } from '../codecs/rlpx-frame.ts'
import {
  createAck,
  createAuth,
  initiatorSecrets,
  readAck,
  readAuth,
  recipientSecrets,
} from '../codecs/rlpx-handshake.ts'
import { type CryptoBackend, setCryptoBackend } from '../crypto/backend.ts'
import { eciesDecrypt, eciesEncrypt } from '../crypto/ecies.ts'
import { generatePrivateKey, hasNativeSecp256k1, publicKeyOf } from '../crypto/secp256k1.ts'
import { measure, type Row, report } from './lib.ts'

const MS = Number(process.env.BENCH_MS ?? 600)
const keyA = generatePrivateKey()
const keyB = generatePrivateKey()
const pubA = publicKeyOf(keyA)
const pubB = publicKeyOf(keyB)

// ethjs's ECIES keeps its protocol flags private; these are what its Peer sets after reading the first bytes
type EthjsEcies = ECIES & { _gotEIP8Auth: boolean; _gotEIP8Ack: boolean }
const ethjs = (priv: Uint8Array, pub: Uint8Array, remote: Uint8Array | null) => {
  // ethjs's Peer passes a null remote id on the recipient side; its declared type does not say so
  const e = new ECIES(priv, pub, remote as Uint8Array) as EthjsEcies
  e._gotEIP8Auth = true
  e._gotEIP8Ack = true
  return e
}

/** CPU milliseconds (user + system) per call of f, over about `ms` of wall time after a warm-up. */
function cpuMsPerOp(f: () => unknown, ms = MS): number {
  const warm = performance.now() + Math.min(200, ms / 5)
  while (performance.now() < warm) f()
  const start = process.cpuUsage()
  const end = performance.now() + ms
  let n = 0
  while (performance.now() < end) {
    f()
    n++
  }
  const d = process.cpuUsage(start)
  return (d.user + d.system) / 1000 / n
}

/** Payload for the snappy rows: 64-byte random blocks each repeated once (about 2:1 compressible). */
function payload(n: number): Uint8Array {
  const p = new Uint8Array(n)
  for (let i = 0; i < n; i += 128) {
    const r = crypto.getRandomValues(new Uint8Array(64))
    p.set(r.subarray(0, Math.min(64, n - i)), i)
    if (i + 64 < n) p.set(r.subarray(0, Math.min(64, n - i - 64)), i + 64)
  }
  return p
}

async function eciesRows(): Promise<Row[]> {
  const msg = payload(300)
  const shared = Uint8Array.of(1, 0x9d)
  const e = ethjs(keyA, pubA, pubB)
  const ethjsSealed = e._encryptMessage(msg, shared)!
  const d = ethjs(keyB, pubB, pubA)
  const ethjsSeal = (await measure(() => e._encryptMessage(msg, shared), MS)).opsPerSec
  const ethjsOpen = (await measure(() => d._decryptMessage(ethjsSealed, shared), MS)).opsPerSec
  const rows: Row[] = []
  for (const b of ['fast', 'noble'] as CryptoBackend[]) {
    setCryptoBackend(b)
    const sealed = eciesEncrypt(pubB, msg, shared)
    rows.push(
      {
        name: `ECIES seal, 300 B [${b}]`,
        unit: 'ops/s',
        ours: (await measure(() => eciesEncrypt(pubB, msg, shared), MS)).opsPerSec,
        ethjs: ethjsSeal,
      },
      {
        name: `ECIES open, 300 B [${b}]`,
        unit: 'ops/s',
        ours: (await measure(() => eciesDecrypt(keyB, sealed, shared), MS)).opsPerSec,
        ethjs: ethjsOpen,
      },
    )
  }
  setCryptoBackend('fast')
  return rows
}

function handshakeRows(): Row[] {
  // ethjs: initiator = new ECIES + createAuthEIP8 + parseAckEIP8; recipient = new ECIES + parseAuthEIP8 +
  // createAckEIP8 (its constructor draws the ephemeral key, part of the handshake's crypto)
  const ethjsAuth = ethjs(keyA, pubA, pubB).createAuthEIP8()!
  const ethjsAckFor = ethjs(keyB, pubB, null)
  ethjsAckFor.parseAuthEIP8(ethjsAuth)
  const ethjsAck = ethjsAckFor.createAckEIP8()!
  const ethjsInit = cpuMsPerOp(() => {
    const e = ethjs(keyA, pubA, pubB)
    e.createAuthEIP8()
    e.parseAckEIP8(ethjsAck)
  })
  const ethjsResp = cpuMsPerOp(() => {
    const e = ethjs(keyB, pubB, null)
    e.parseAuthEIP8(ethjsAuth)
    e.createAckEIP8()
  })
  const rows: Row[] = []
  for (const b of ['fast', 'noble'] as CryptoBackend[]) {
    setCryptoBackend(b)
    const auth = createAuth(keyA, pubB).packet
    const ack = createAck(readAuth(keyB, auth)).packet
    const init = cpuMsPerOp(() => {
      const { state } = createAuth(keyA, pubB)
      initiatorSecrets(state, readAck(keyA, ack))
    })
    const resp = cpuMsPerOp(() => recipientSecrets(createAck(readAuth(keyB, auth)).state))
    const target = b === 'fast' ? '≤ 1 ms/side (≥ 1 000/s)' : '≤ 12 ms/side (≥ 83/s)'
    console.log(
      `handshake crypto CPU per side [${b}]: initiator ${init.toFixed(3)} ms, recipient ${resp.toFixed(3)} ms` +
        ` (ethjs ${ethjsInit.toFixed(2)} / ${ethjsResp.toFixed(2)} ms)`,
    )
    rows.push(
      {
        name: `handshake, initiator side [${b}]`,
        unit: '1/CPU-s',
        ours: 1000 / init,
        ethjs: 1000 / ethjsInit,
        target,
      },
      {
        name: `handshake, recipient side [${b}]`,
        unit: '1/CPU-s',
        ours: 1000 / resp,
        ethjs: 1000 / ethjsResp,
        target,
      },
    )
  }
  setCryptoBackend('fast')
  return rows
}

function ethjsFramePair() {
  const a = ethjs(keyA, pubA, pubB)
  const b = ethjs(keyB, pubB, null)
  b.parseAuthEIP8(a.createAuthEIP8()!)
  a.parseAckEIP8(b.createAckEIP8()!)
  return { a, b }
}

function ourFramePair() {
  const { packet, state } = createAuth(keyA, pubB)
  const { packet: ack, state: rs } = createAck(readAuth(keyB, packet))
  return {
    w: new FrameCoder(initiatorSecrets(state, readAck(keyA, ack))),
    r: new FrameCoder(recipientSecrets(rs)),
  }
}

async function frameRows(): Promise<Row[]> {
  const rows: Row[] = []
  const mbps = async (op: () => unknown, size: number) => ((await measure(op, MS)).opsPerSec * size) / 1e6
  for (const size of [1024, 1 << 20]) {
    const data = payload(size)
    const label = size === 1024 ? '1 KiB' : '1 MiB'
    for (const snappy of [false, true]) {
      // ethjs Peer._sendMessage / _handleBody: rlp(code) || (snappy? compress(data)), header then body
      const ethjsSeal = (a: EthjsEcies) => {
        const d = snappy ? compress(data) : data
        const msg = new Uint8Array(1 + d.length)
        msg[0] = 0x10
        msg.set(d, 1)
        return [a.createBlockHeader(msg.length)!, a.createBody(msg)!] as const
      }
      const { a, b } = ethjsFramePair()
      const ethjsBoth = await mbps(() => {
        const [header, body] = ethjsSeal(a)
        b.parseHeader(header)
        const got = b.parseBody(body)!.subarray(1)
        if (snappy) uncompress(got)
      }, size)
      const detail = size > 1024 && !snappy
      const sealer = ethjsFramePair().a
      const ethjsSealOnly = detail ? await mbps(() => ethjsSeal(sealer), size) : 0
      for (const backend of ['fast', 'noble'] as CryptoBackend[]) {
        if (backend === 'noble' && size < 1 << 20) continue
        setCryptoBackend(backend)
        const { w, r } = ourFramePair()
        w.setSnappy(snappy)
        r.setSnappy(snappy)
        const both = await mbps(() => {
          r.push(w.encode(0x10, data))
          r.read()
        }, size)
        const name = `frame seal+open ${label}, snappy ${snappy ? 'on' : 'off'} [${backend}]`
        const target = detail && backend === 'fast' ? '≥ 250 MB/s' : ''
        rows.push({ name, unit: 'MB/s', ours: both, ethjs: ethjsBoth, target })
        if (detail) {
          // one direction each: seal measured alone, open = (seal+open time) − (seal time)
          const w2 = ourFramePair().w
          const seal = await mbps(() => w2.encode(0x10, data), size)
          const open = 1 / (1 / both - 1 / seal)
          const ethjsOpen = 1 / (1 / ethjsBoth - 1 / ethjsSealOnly)
          rows.push(
            { name: `  seal only ${label} [${backend}]`, unit: 'MB/s', ours: seal, ethjs: ethjsSealOnly },
            {
              name: `  open only ${label} (derived) [${backend}]`,
              unit: 'MB/s',
              ours: open,
              ethjs: ethjsOpen,
            },
          )
        }
      }
      setCryptoBackend('fast')
    }
  }
  return rows
}

console.log(`native secp256k1: ${hasNativeSecp256k1}`)
report('ECIES (ethjs: ECIES._encryptMessage / _decryptMessage)', await eciesRows())
report(
  'RLPx handshake crypto, CPU per side (ethjs: ECIES createAuthEIP8/parseAckEIP8, parseAuthEIP8/createAckEIP8)',
  handshakeRows(),
)
report(
  'RLPx frame seal+open (ethjs: ECIES createBlockHeader/createBody/parseHeader/parseBody + snappyjs)',
  await frameRows(),
)
