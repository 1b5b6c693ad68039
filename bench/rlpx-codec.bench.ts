// Benchmark: the RLPx codecs beside @ethereumjs/devp2p's ECIES class (its ECIES seal/open, handshake steps
// and frame header/body code) in the same run: ECIES seal/open per second, the whole handshake crypto CPU per
// side on our fast and noble paths, and frame seal+open throughput at 1 KiB and 1 MiB with snappy off and on.
// Frame seal+open = one side encodes, the other pushes and reads: every payload byte is AES-encrypted,
// keccak-MACed, MAC-checked and decrypted once per direction (so two keccak passes per byte). In one thread
// that is bounded by keccak (see the ceiling rows, measured in the same run); as a connection runs, the two
// ends work on two cores: the pipelined row seals on the main thread and opens in a worker thread
// (bench/procs/frame-open-worker.ts), frames transferred, at most PIPELINE_WINDOW in flight.
import { createCipheriv, createHash } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { ECIES } from '@ethereumjs/devp2p'
import { createKeccak } from 'hash-wasm'
import { compress, uncompress } from 'snappyjs'
import { FrameCoder } from '../codecs/rlpx-frame.ts'
import {
  createAck,
  createAuth,
  initiatorSecrets,
  readAck,
  readAuth,
  recipientSecrets,
  type SecretParams,
} from '../codecs/rlpx-handshake.ts'
import { type CryptoBackend, setCryptoBackend } from '../crypto/backend.ts'
import { eciesDecrypt, eciesEncrypt } from '../crypto/ecies.ts'
import { fastKeccak, keccak256 } from '../crypto/keccak.ts'
import { generatePrivateKey, hasNativeSecp256k1, publicKeyOf } from '../crypto/secp256k1.ts'
import { measure, payload, type Row, report } from './lib.ts'

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

/** Frames in flight between the sealing main thread and the opening worker (bounded like a socket buffer). */
const PIPELINE_WINDOW = 4
/** The worker's bootstrap: register tsx in the worker thread, then load the TypeScript worker module. */
const WORKER_BOOT = `const { workerData } = require('node:worker_threads')
import(workerData.tsx).then((tsx) => { tsx.register(); return import(workerData.entry) })`

/**
 * Seal on this thread, open in a worker thread (the two ends of a connection, one core each): payload MB/s
 * end to end over about `ms`, counted from the worker's per-frame credits after a warm-up. The first 4
 * payload bytes carry a frame counter; the worker's last payload must equal the last one sent.
 */
/** This thread's CPU time in ms (Linux /proc/thread-self/schedstat), NaN where that is not available. */
function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6
  } catch {
    return Number.NaN
  }
}

interface Pipelined {
  /** payload MB/s end to end */
  mbps: number
  /** CPU time / wall time over the measured window, per thread */
  senderBusy: number
  receiverBusy: number
  /** payload MB/s if each thread had a core to itself: bytes / the busier thread's CPU time */
  coreEachMBps: number
}

async function pipelined(data: Uint8Array, ms = MS): Promise<Pipelined> {
  const { packet, state } = createAuth(keyA, pubB)
  const auth = readAuth(keyB, packet)
  const { packet: ackPacket, state: rs } = createAck(auth)
  const sealer = new FrameCoder(initiatorSecrets(state, readAck(keyA, ackPacket)))
  // exactly what recipientSecrets(rs) derives from, as plain bytes the worker can receive
  const params: SecretParams = {
    initiator: false,
    ephemeralKey: rs.ephemeralKey,
    remoteEphemeralPubkey: auth.remoteEphemeralPubkey,
    initiatorNonce: auth.initiatorNonce,
    recipientNonce: rs.nonce,
    authPacket: auth.packet,
    ackPacket: rs.ackPacket,
    remotePubkey: auth.initiatorPubkey,
  }
  const entry = new URL('./procs/frame-open-worker.ts', import.meta.url).href
  const worker = new Worker(WORKER_BOOT, {
    eval: true,
    execArgv: [],
    workerData: { params, entry, tsx: import.meta.resolve('tsx/esm/api') },
  })
  try {
    const [hello] = await once(worker, 'message')
    if (hello !== 'ready') throw new Error(`frame worker said ${String(hello)}`)
    const payload = data.slice()
    const stamp = new DataView(payload.buffer)
    let sent = 0
    let inflight = 0
    let credits = 0
    const warmEnd = performance.now() + Math.min(200, ms / 5)
    let t0 = 0
    let credits0 = 0
    let t1 = 0
    let credits1 = 0
    // CPU ms of this thread and of the worker (its credits carry it) at t0 and t1
    const cpu = { main0: 0, worker0: 0, main1: 0, worker1: 0 }
    const done = new Promise<{ frames: number; last: Uint8Array }>((resolve, reject) => {
      worker.once('error', reject)
      const pump = () => {
        while (inflight < PIPELINE_WINDOW) {
          stamp.setUint32(0, ++sent)
          const frame = sealer.encode(0x10, payload)
          worker.postMessage(frame, [frame.buffer as ArrayBuffer])
          inflight++
        }
      }
      worker.on('message', (m: number | { frames: number; last: Uint8Array }) => {
        if (typeof m !== 'number') return resolve(m)
        inflight--
        credits++
        const now = performance.now()
        if (t0 === 0) {
          if (now >= warmEnd) {
            t0 = now
            credits0 = credits
            cpu.main0 = threadCpuMs()
            cpu.worker0 = m
          }
        } else if (t1 === 0 && now >= t0 + ms) {
          t1 = now
          credits1 = credits
          cpu.main1 = threadCpuMs()
          cpu.worker1 = m
        }
        if (t1 === 0) pump()
        else if (inflight === 0) worker.postMessage('end')
      })
      pump()
    })
    const { frames, last } = await done
    if (frames !== sent || !Buffer.from(last).equals(payload))
      throw new Error(`pipelined frames: worker read ${frames} of ${sent}, last payload differs`)
    const bytes = (credits1 - credits0) * data.length
    const senderCpu = cpu.main1 - cpu.main0
    const receiverCpu = cpu.worker1 - cpu.worker0
    return {
      mbps: bytes / ((t1 - t0) * 1000),
      senderBusy: senderCpu / (t1 - t0),
      receiverBusy: receiverCpu / (t1 - t0),
      coreEachMBps: bytes / (Math.max(senderCpu, receiverCpu) * 1000),
    }
  } finally {
    await worker.terminate()
  }
}

/** MB/s of the primitives that bound frame throughput, on 1 MiB inputs, measured in this run. */
async function ceilingRows(): Promise<{
  rows: Row[]
  keccakMBps: number
  sha3MBps: number
  aesMBps: number
}> {
  const data = payload(1 << 20)
  const mbps = async (op: () => unknown) => ((await measure(op, MS)).opsPerSec * data.length) / 1e6
  setCryptoBackend('fast')
  const hashWasm = await createKeccak(256)
  const hashWasmMBps = await mbps(() => hashWasm.init().update(data).digest('binary'))
  const keccakMBps = await mbps(() => keccak256(data))
  const sha3MBps = await mbps(() => createHash('sha3-256').update(data).digest())
  const ctr = createCipheriv('aes-256-ctr', new Uint8Array(32), new Uint8Array(16))
  const aesMBps = await mbps(() => ctr.update(data))
  const bound = (k: number) => 1 / (2 / k + 2 / aesMBps)
  const rows: Row[] = [
    { name: 'keccak-256, hash-wasm (its own API)', unit: 'MB/s', ours: hashWasmMBps },
    {
      name: `keccak-256, crypto/keccak.ts [fast] (${fastKeccak === 'core' ? 'its WebAssembly core, crypto/keccak-wasm.ts' : 'hash-wasm driven directly'})`,
      unit: 'MB/s',
      ours: keccakMBps,
    },
    {
      name: 'SHA3-256, node:crypto (OpenSSL assembly, same permutation; Node 20 has no keccak padding)',
      unit: 'MB/s',
      ours: sha3MBps,
    },
    { name: 'AES-256-CTR, node:crypto', unit: 'MB/s', ours: aesMBps },
    {
      name: '⇒ one-thread seal+open bound with that keccak: 1/(2/keccak + 2/aes)',
      unit: 'MB/s',
      ours: bound(keccakMBps),
    },
    { name: '⇒ same with OpenSSL-speed keccak', unit: 'MB/s', ours: bound(sha3MBps) },
    {
      name: '⇒ one direction (what bounds the pipelined row): 1/(1/keccak + 1/aes)',
      unit: 'MB/s',
      ours: 2 * bound(keccakMBps),
    },
  ]
  return { rows, keccakMBps, sha3MBps, aesMBps }
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
        const target = detail && backend === 'fast' ? 'one thread: see the note' : ''
        rows.push({ name: `${name}, one thread`, unit: 'MB/s', ours: both, ethjs: ethjsBoth, target })
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
          if (backend === 'fast') {
            const p = await pipelined(data, 2 * MS)
            rows.push({
              name: `frame seal → open pipelined ${label}, sender and receiver on two threads (as the two ends of a connection) [${backend}]`,
              unit: 'MB/s',
              ours: p.mbps,
              target: '≥ 250 MB/s',
            })
            const pct = (x: number) => `${(100 * x).toFixed(0)} %`
            console.log(
              `pipelined ${label}: ${p.mbps.toFixed(0)} MB/s end to end; CPU over the window: sender ${pct(p.senderBusy)},` +
                ` receiver ${pct(p.receiverBusy)} of wall time; with a core each (bytes / the busier thread's CPU` +
                ` time, what other processes on the machine cannot lower): ${p.coreEachMBps.toFixed(0)} MB/s`,
            )
          }
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
const ceiling = await ceilingRows()
report('keccak-256 ceiling: what bounds frame throughput (1 MiB inputs, this run)', ceiling.rows)
console.log(
  `\nNote: seal+open of one frame in ONE thread MACs every byte twice (the sender's egress and the receiver's` +
    ` ingress keccak) and runs AES-CTR twice: at most ${(1 / (2 / ceiling.keccakMBps + 2 / ceiling.aesMBps)).toFixed(0)} MB/s` +
    ` with crypto/keccak.ts's keccak, ${(1 / (2 / ceiling.sha3MBps + 2 / ceiling.aesMBps)).toFixed(0)} MB/s even at OpenSSL's` +
    ` keccak speed, so the one-thread rows carry no target. The ≥ 250 MB/s target is the pipelined row's: on a` +
    ` connection the sender seals on one core and the receiver opens on another.`,
)
