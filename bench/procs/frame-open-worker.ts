// Worker thread for bench/rlpx-codec.bench.ts's pipelined frame row: the receiving end of a connection on a
// core of its own. It derives the recipient's connection secrets from the SecretParams in workerData (the
// same derivation recipientSecrets does), opens every frame the main thread transfers to it, answers each
// with one credit message (this thread's CPU ms so far, NaN where /proc/thread-self is missing), and on 'end'
// replies with the frame count and the last payload it read.
import { readFileSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { FrameCoder } from '../../codecs/rlpx-frame.ts'
import { deriveSecrets, type SecretParams } from '../../codecs/rlpx-handshake.ts'

function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6
  } catch {
    return Number.NaN
  }
}

const port = parentPort
if (!port) throw new Error('frame-open-worker runs as a worker thread')
const coder = new FrameCoder(deriveSecrets((workerData as { params: SecretParams }).params))
let frames = 0
let last: Uint8Array = new Uint8Array(0)

port.on('message', (m: Uint8Array | 'end') => {
  if (m === 'end') {
    port.postMessage({ frames, last })
    port.close()
    return
  }
  coder.push(m)
  for (let msg = coder.read(); msg; msg = coder.read()) {
    last = msg.payload
    frames++
  }
  port.postMessage(threadCpuMs())
})
port.postMessage('ready')
