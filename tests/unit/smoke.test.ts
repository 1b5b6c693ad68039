import assert from 'node:assert/strict'
import { test } from 'node:test'
import { bytesToHex, keccak256 } from '../../index.ts'

test('keccak256 of the empty string', () => {
  assert.equal(bytesToHex(keccak256()), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
})
