// In-memory cross-check of the RLPx handshake and framing against an independent implementation,
// @ethereumjs/devp2p's ECIES class (as its Peer drives it): each side initiates once, then frames flow both
// ways between our FrameCoder and ethjs's header/body code.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ECIES } from '@ethereumjs/devp2p'
import { FrameCoder } from '../../../codecs/rlpx-frame.ts'
import {
  createAck,
  createAuth,
  initiatorSecrets,
  readAck,
  readAuth,
  recipientSecrets,
  type Secrets,
} from '../../../codecs/rlpx-handshake.ts'
import { generatePrivateKey, publicKeyOf } from '../../../crypto/secp256k1.ts'

type EthjsEcies = ECIES & { _gotEIP8Auth: boolean; _gotEIP8Ack: boolean }
function ethjs(priv: Uint8Array, remote: Uint8Array | null): EthjsEcies {
  // ethjs's Peer passes a null remote id on the recipient side and sets the EIP-8 flags itself
  const e = new ECIES(priv, publicKeyOf(priv), remote as Uint8Array) as EthjsEcies
  e._gotEIP8Auth = true
  e._gotEIP8Ack = true
  return e
}

const keyA = generatePrivateKey()
const keyB = generatePrivateKey()

function exchangeFrames(ours: Secrets, theirs: EthjsEcies): void {
  const coder = new FrameCoder(ours)
  for (const [code, size] of [
    [0, 0],
    [0x10, 1],
    [0x11, 15],
    [0x7f, 16],
    [0x80, 1000],
  ] as const) {
    const payload = new Uint8Array(size).map((_, i) => i * 13)
    // ours → ethjs
    const frame = coder.encode(code, payload)
    const bodySize = theirs.parseHeader(frame.subarray(0, 32))
    assert.equal(bodySize, (code < 0x80 ? 1 : 2) + size)
    const content = theirs.parseBody(frame.subarray(32))!
    assert.deepEqual(content.subarray(code < 0x80 ? 1 : 2), payload)
    // ethjs → ours (its Peer: rlp(code) || data, header and body written separately)
    const msg = new Uint8Array((code === 0 ? 1 : code < 0x80 ? 1 : 2) + size)
    if (code === 0) msg[0] = 0x80
    else if (code < 0x80) msg[0] = code
    else msg.set([0x81, code])
    msg.set(payload, msg.length - size)
    coder.push(theirs.createBlockHeader(msg.length)!)
    assert.equal(coder.read(), null)
    coder.push(theirs.createBody(msg)!)
    assert.deepEqual(coder.read(), { code, payload, wireSize: size })
  }
}

describe('RLPx against @ethereumjs/devp2p ECIES', () => {
  test('ethjs initiates, we answer; frames both ways', () => {
    const a = ethjs(keyA, publicKeyOf(keyB))
    const auth = a.createAuthEIP8()!
    const received = readAuth(keyB, auth)
    assert.deepEqual(received.initiatorPubkey, publicKeyOf(keyA))
    const { packet: ack, state } = createAck(received)
    a.parseAckEIP8(ack)
    exchangeFrames(recipientSecrets(state), a)
  })
  test('we initiate, ethjs answers; frames both ways', () => {
    const { packet: auth, state } = createAuth(keyA, publicKeyOf(keyB))
    const b = ethjs(keyB, null)
    b.parseAuthEIP8(auth)
    const ack = b.createAckEIP8()!
    exchangeFrames(initiatorSecrets(state, readAck(keyA, ack)), b)
  })
})
