// RLP against ethereum/tests RLPTests: every valid case encodes and decodes, every invalid case is rejected.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes } from '../../codecs/bytes.ts'
import { DecodeError } from '../../codecs/errors.ts'
import { type RlpInput, type RlpItem, rlpDecode, rlpEncode, uintToBytes } from '../../codecs/rlp.ts'

type JsonIn = string | number | JsonIn[]
interface Case {
  in: JsonIn
  out: string
}
const load = (f: string) =>
  JSON.parse(readFileSync(new URL(f, import.meta.url), 'utf8')) as { tests: Record<string, Case> }
const valid = load('./rlp.json').tests
const invalid = load('./rlp-invalid.json').tests

/** JSON test input → encoder input: strings are code-point bytes, `#n` a bigint, numbers ints. */
function toInput(v: JsonIn): RlpInput {
  if (Array.isArray(v)) return v.map(toInput)
  if (typeof v === 'number') return v
  if (v.startsWith('#')) return BigInt(v.slice(1))
  return Uint8Array.from(v, (c) => c.charCodeAt(0))
}

/** The item a decoder must produce for the JSON input. */
function toItem(v: JsonIn): RlpItem {
  if (Array.isArray(v)) return v.map(toItem)
  const x = toInput(v)
  return typeof x === 'number' || typeof x === 'bigint' ? uintToBytes(x) : (x as Uint8Array)
}

const norm = (item: RlpItem): unknown =>
  Array.isArray(item) ? item.map(norm) : bytesToHex(item as Uint8Array)

describe('RLP vectors (ethereum/tests rlptest.json)', () => {
  it('has all 28 valid cases', () => assert.equal(Object.keys(valid).length, 28))
  for (const [name, c] of Object.entries(valid)) {
    it(`encodes ${name}`, () => {
      assert.equal(bytesToHex(rlpEncode(toInput(c.in))), c.out.slice(2).toLowerCase())
    })
    it(`decodes ${name}`, () => {
      assert.deepEqual(norm(rlpDecode(hexToBytes(c.out))), norm(toItem(c.in)))
    })
  }
})

describe('RLP invalid vectors (ethereum/tests invalidRLPTest.json)', () => {
  it('has all 26 invalid cases', () => assert.equal(Object.keys(invalid).length, 26))
  for (const [name, c] of Object.entries(invalid)) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => rlpDecode(hexToBytes(c.out)),
        (e) => e instanceof DecodeError && e.code.startsWith('RLP_'),
      )
    })
  }
})
