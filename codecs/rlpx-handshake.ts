// RLPx encryption handshake, EIP-8 auth and ack (devp2p rlpx.md "Initial Handshake", EIP-8; geth
// p2p/rlpx/rlpx.go runInitiator/runRecipient). Pure steps returning narrower objects; randomness injectable.
//
// Initiator                                             Recipient
//   { packet: auth, state } = createAuth(priv, remotePub)
//   ──────────────────────────── auth ─────────────────▶ auth = readAuth(priv, packet)
//                                                        { packet: ack, state } = createAck(auth)
//   ack = readAck(priv, packet) ◀──────── ack ───────────
//   secrets = initiatorSecrets(state, ack)               secrets = recipientSecrets(state)
//
// Both sides can cut a packet from a socket buffer with handshakePacketLength(buf): null until the 2-byte
// EIP-8 size prefix is there, then the whole packet length (prefix included); it throws AUTH_TOO_BIG /
// AUTH_TOO_SMALL as soon as the prefix is impossible, so a reader can drop early. readAuth/readAck take
// exactly one packet (prefix included); bytes after it (the peer's first frame) go to the frame coder.
//
// Wire: packet = size(2, big-endian) || ECIES(remote static key, rlp(body) || padding, sharedMacData = size)
//   auth body = [signature(65), initiator-pubkey(64), initiator-nonce(32), version=4, ...ignored]
//   ack body  = [recipient-ephemeral-pubkey(64), recipient-nonce(32), version=4, ...ignored]
//   signature = sign(ecdh(static keys) XOR initiator-nonce) with the initiator's ephemeral key
// Padding: 100–199 zero bytes (geth sealEIP8; it makes EIP-8 packets longer than pre-EIP-8 ones). Pre-EIP-8
// packets are not accepted (geth dropped them): their first two bytes read as a size that does not match.
// Errors: DecodeError AUTH_TOO_BIG (size > 2048), AUTH_TOO_SMALL, BAD_LENGTH, ECIES_FAILED, RLP_*,
// BAD_PUBLIC_KEY, BAD_SIGNATURE — never anything else for any input bytes.
//
// Secrets (geth handshakeState.secrets): ephemeral-key = ecdh(ephemeral keys);
//   shared-secret = keccak(ephemeral-key || keccak(recipient-nonce || initiator-nonce))
//   aes-secret = keccak(ephemeral-key || shared-secret); mac-secret = keccak(ephemeral-key || aes-secret)
//   egress-mac (initiator) = keccak.update(mac-secret XOR recipient-nonce || auth)
//   ingress-mac (initiator) = keccak.update(mac-secret XOR initiator-nonce || ack); swapped on the recipient
import { ECIES_OVERHEAD, eciesDecrypt, eciesEncrypt, type RandomBytes, randomBytes } from '../crypto/ecies.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { RlpxMac } from '../crypto/rlpx-mac.ts'
import {
  CryptoError,
  ecdh,
  isValidPrivateKey,
  publicKeyOf,
  recoverPublicKey,
  sign,
  uncompressPublicKey,
} from '../crypto/secp256k1.ts'
import { equalBytes, xorBytes } from './bytes.ts'
import { DecodeError } from './errors.ts'
import { asBigUint, asFixedBytes, asList, type RlpItem, rlpDecodePrefix, rlpEncode } from './rlp.ts'

/** geth p2p/rlpx makeAuthMsg/makeAuthResp: msg.Version = 4 */
export const HANDSHAKE_VERSION = 4
/** geth p2p/rlpx readMsg: a declared size above 2048 is "message too big" */
export const MAX_HANDSHAKE_SIZE = 2048
/** the EIP-8 big-endian size prefix */
export const HANDSHAKE_PREFIX_SIZE = 2
/** geth sealEIP8: mrand.Intn(100) + 100 zero bytes of padding */
export const EIP8_PADDING_MIN = 100
export const EIP8_PADDING_SPREAD = 100
const SIG_LEN = 65
const PUB_LEN = 64
const NONCE_LEN = 32

/** Randomness for one side of the handshake; everything defaults to `rng` (node:crypto by default). */
export interface HandshakeRandomness {
  rng?: RandomBytes
  /** the ephemeral (ecdhe-random) private key */
  ephemeralKey?: Uint8Array
  nonce?: Uint8Array
  /** zero bytes appended after the RLP body (geth: 100–199) */
  paddingLength?: number
}

/** Connection secrets after the handshake (geth p2p/rlpx Secrets); hand them to the frame coder. */
export interface Secrets {
  aes: Uint8Array
  mac: Uint8Array
  egressMac: RlpxMac
  ingressMac: RlpxMac
  /** the remote static public key (64 bytes) */
  remotePubkey: Uint8Array
}

/** What the initiator keeps between sending auth and receiving ack. */
export interface InitiatorHandshake {
  remotePubkey: Uint8Array
  ephemeralKey: Uint8Array
  nonce: Uint8Array
  authPacket: Uint8Array
}

export interface ReceivedAuth {
  packet: Uint8Array
  initiatorPubkey: Uint8Array
  initiatorNonce: Uint8Array
  /** recovered from the signature */
  remoteEphemeralPubkey: Uint8Array
  signature: Uint8Array
  version: number
  /** list elements after the version (EIP-8 forward compatibility), ignored */
  rest: RlpItem[]
}

/** What the recipient holds after sending ack: enough to derive the secrets. */
export interface RecipientHandshake {
  auth: ReceivedAuth
  ephemeralKey: Uint8Array
  nonce: Uint8Array
  ackPacket: Uint8Array
}

export interface ReceivedAck {
  packet: Uint8Array
  remoteEphemeralPubkey: Uint8Array
  recipientNonce: Uint8Array
  version: number
  rest: RlpItem[]
}

export interface SecretParams {
  initiator: boolean
  ephemeralKey: Uint8Array
  remoteEphemeralPubkey: Uint8Array
  initiatorNonce: Uint8Array
  recipientNonce: Uint8Array
  authPacket: Uint8Array
  ackPacket: Uint8Array
  remotePubkey: Uint8Array
}

/** Whole packet length (prefix included) once the 2-byte prefix is buffered, else null. */
export function handshakePacketLength(buf: Uint8Array): number | null {
  if (buf.length < HANDSHAKE_PREFIX_SIZE) return null
  const size = (buf[0]! << 8) | buf[1]!
  if (size > MAX_HANDSHAKE_SIZE)
    throw new DecodeError('AUTH_TOO_BIG', `handshake packet declares ${size} bytes`, {
      size,
      max: MAX_HANDSHAKE_SIZE,
    })
  if (size <= ECIES_OVERHEAD)
    throw new DecodeError('AUTH_TOO_SMALL', `handshake packet declares ${size} bytes`, { size })
  return size + HANDSHAKE_PREFIX_SIZE
}

function drawKey(rng: RandomBytes): Uint8Array {
  for (;;) {
    const k = rng(32)
    if (isValidPrivateKey(k)) return k
  }
}

function seal(body: Uint8Array, remotePubkey: Uint8Array, r: HandshakeRandomness): Uint8Array {
  const rng = r.rng ?? randomBytes
  const pad = r.paddingLength ?? EIP8_PADDING_MIN + (rng(1)[0]! % EIP8_PADDING_SPREAD)
  const plain = new Uint8Array(body.length + pad)
  plain.set(body)
  const size = plain.length + ECIES_OVERHEAD
  if (size > MAX_HANDSHAKE_SIZE) throw new RangeError(`handshake packet of ${size} bytes`)
  const prefix = Uint8Array.of(size >> 8, size & 0xff)
  const enc = eciesEncrypt(remotePubkey, plain, prefix, rng)
  const packet = new Uint8Array(HANDSHAKE_PREFIX_SIZE + enc.length)
  packet.set(prefix)
  packet.set(enc, HANDSHAKE_PREFIX_SIZE)
  return packet
}

function mapCrypto<T>(code: 'ECIES_FAILED' | 'BAD_PUBLIC_KEY' | 'BAD_SIGNATURE', f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof DecodeError) throw e
    const cause = e instanceof CryptoError ? e.code : String(e)
    throw new DecodeError(code, (e as Error)?.message ?? cause, { cause })
  }
}

/** Decrypt one EIP-8 packet (prefix included) and decode the leading RLP list, ignoring the padding. */
function open(privateKey: Uint8Array, packet: Uint8Array, what: string, minFields: number): RlpItem[] {
  const total = handshakePacketLength(packet)
  if (total === null) throw new DecodeError('AUTH_TOO_SMALL', `${what}: ${packet.length} bytes`)
  if (packet.length < total)
    throw new DecodeError('AUTH_TOO_SMALL', `${what}: declares ${total} bytes, got ${packet.length}`)
  if (packet.length > total)
    throw new DecodeError('BAD_LENGTH', `${what}: declares ${total} bytes, got ${packet.length}`)
  const plain = mapCrypto('ECIES_FAILED', () =>
    eciesDecrypt(
      privateKey,
      packet.subarray(HANDSHAKE_PREFIX_SIZE),
      packet.subarray(0, HANDSHAKE_PREFIX_SIZE),
    ),
  )
  return asList(rlpDecodePrefix(plain).item, what, minFields)
}

function version(item: RlpItem | undefined): number {
  // geth decodes Version into a uint (64 bits)
  return Number(asBigUint(item, 'version', 8))
}

const staticPublicKeys = new WeakMap<Uint8Array, { key: Uint8Array; pub: Uint8Array }>()
/**
 * Our static public key, derived once per private-key object (a node dials every peer with the same one);
 * the key bytes are compared on each use, so a caller that rewrites the array in place still gets a fresh key.
 */
export function staticPublicKey(privateKey: Uint8Array): Uint8Array {
  const hit = staticPublicKeys.get(privateKey)
  if (hit && equalBytes(hit.key, privateKey)) return hit.pub
  const pub = publicKeyOf(privateKey)
  staticPublicKeys.set(privateKey, { key: privateKey.slice(), pub })
  return pub
}

// ── initiator ────────────────────────────────────────────────────────────────────────────────────────

/** Build the auth packet to `remotePubkey` (geth makeAuthMsg + sealEIP8). */
export function createAuth(
  privateKey: Uint8Array,
  remotePubkey: Uint8Array,
  r: HandshakeRandomness = {},
): { packet: Uint8Array; state: InitiatorHandshake } {
  const rng = r.rng ?? randomBytes
  const remote = uncompressPublicKey(remotePubkey)
  const nonce = r.nonce ?? rng(NONCE_LEN)
  const ephemeralKey = r.ephemeralKey ?? drawKey(rng)
  const token = ecdh(privateKey, remote)
  const signature = sign(xorBytes(token, nonce), ephemeralKey)
  const body = rlpEncode([signature, staticPublicKey(privateKey), nonce, HANDSHAKE_VERSION])
  const packet = seal(body, remote, r)
  return { packet, state: { remotePubkey: remote, ephemeralKey, nonce, authPacket: packet } }
}

/** Decrypt and decode the recipient's ack (geth readMsg + handleAuthResp). */
export function readAck(privateKey: Uint8Array, packet: Uint8Array): ReceivedAck {
  const l = open(privateKey, packet, 'ack', 3)
  const eph = asFixedBytes(l[0], PUB_LEN, 'recipient-ephemeral-pubk')
  const nonce = asFixedBytes(l[1], NONCE_LEN, 'recipient-nonce')
  const v = version(l[2])
  const remoteEphemeralPubkey = mapCrypto('BAD_PUBLIC_KEY', () => uncompressPublicKey(eph)).slice()
  return {
    packet: packet.slice(),
    remoteEphemeralPubkey,
    recipientNonce: nonce.slice(),
    version: v,
    rest: l.slice(3),
  }
}

export function initiatorSecrets(state: InitiatorHandshake, ack: ReceivedAck): Secrets {
  return deriveSecrets({
    initiator: true,
    ephemeralKey: state.ephemeralKey,
    remoteEphemeralPubkey: ack.remoteEphemeralPubkey,
    initiatorNonce: state.nonce,
    recipientNonce: ack.recipientNonce,
    authPacket: state.authPacket,
    ackPacket: ack.packet,
    remotePubkey: state.remotePubkey,
  })
}

// ── recipient ────────────────────────────────────────────────────────────────────────────────────────

/** Decrypt and decode an auth packet and recover the initiator's ephemeral key (geth handleAuthMsg). */
export function readAuth(privateKey: Uint8Array, packet: Uint8Array): ReceivedAuth {
  const l = open(privateKey, packet, 'auth', 4)
  const signature = asFixedBytes(l[0], SIG_LEN, 'signature').slice()
  const pub = asFixedBytes(l[1], PUB_LEN, 'initiator-pubk')
  const nonce = asFixedBytes(l[2], NONCE_LEN, 'initiator-nonce').slice()
  const v = version(l[3])
  const initiatorPubkey = mapCrypto('BAD_PUBLIC_KEY', () => uncompressPublicKey(pub)).slice()
  const token = mapCrypto('BAD_PUBLIC_KEY', () => ecdh(privateKey, initiatorPubkey))
  const remoteEphemeralPubkey = mapCrypto('BAD_SIGNATURE', () =>
    recoverPublicKey(xorBytes(token, nonce), signature),
  ).slice()
  return {
    packet: packet.slice(),
    initiatorPubkey,
    initiatorNonce: nonce,
    remoteEphemeralPubkey,
    signature,
    version: v,
    rest: l.slice(4),
  }
}

/** Build the ack packet answering `auth` (geth makeAuthResp + sealEIP8). */
export function createAck(
  auth: ReceivedAuth,
  r: HandshakeRandomness = {},
): { packet: Uint8Array; state: RecipientHandshake } {
  const rng = r.rng ?? randomBytes
  const nonce = r.nonce ?? rng(NONCE_LEN)
  const ephemeralKey = r.ephemeralKey ?? drawKey(rng)
  const body = rlpEncode([publicKeyOf(ephemeralKey), nonce, HANDSHAKE_VERSION])
  const packet = seal(body, auth.initiatorPubkey, r)
  return { packet, state: { auth, ephemeralKey, nonce, ackPacket: packet } }
}

export function recipientSecrets(state: RecipientHandshake): Secrets {
  return deriveSecrets({
    initiator: false,
    ephemeralKey: state.ephemeralKey,
    remoteEphemeralPubkey: state.auth.remoteEphemeralPubkey,
    initiatorNonce: state.auth.initiatorNonce,
    recipientNonce: state.nonce,
    authPacket: state.auth.packet,
    ackPacket: state.ackPacket,
    remotePubkey: state.auth.initiatorPubkey,
  })
}

// ── both ─────────────────────────────────────────────────────────────────────────────────────────────

/** geth handshakeState.secrets: the frame keys and the seeded egress/ingress MAC states. */
export function deriveSecrets(p: SecretParams): Secrets {
  const ephemeral = ecdh(p.ephemeralKey, p.remoteEphemeralPubkey)
  const shared = keccak256(ephemeral, keccak256(p.recipientNonce, p.initiatorNonce))
  const aes = keccak256(ephemeral, shared)
  const mac = keccak256(ephemeral, aes)
  const macAuth = new RlpxMac(mac)
  macAuth.update(xorBytes(mac, p.recipientNonce))
  macAuth.update(p.authPacket)
  const macAck = new RlpxMac(mac)
  macAck.update(xorBytes(mac, p.initiatorNonce))
  macAck.update(p.ackPacket)
  return p.initiator
    ? { aes, mac, egressMac: macAuth, ingressMac: macAck, remotePubkey: p.remotePubkey }
    : { aes, mac, egressMac: macAck, ingressMac: macAuth, remotePubkey: p.remotePubkey }
}
