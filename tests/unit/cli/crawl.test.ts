// The `discv4 crawl` loop (cli/commands/discv4.ts crawl) over a fake discovery service: a node whose ENR request
// fails is asked again (after the retry delay, 20 ms here) while the crawl runs, up to CRAWL_ENR_ATTEMPTS
// requests; one that never answers is kept as seen without a record; nodes the random walk and the table yield
// are found too.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { of } from 'rxjs'
import type { Discv4 } from '../../../actors/discovery/service.ts'
import { CRAWL_ENR_ATTEMPTS, crawl } from '../../../cli/commands/discv4.ts'
import { hex } from '../../../cli/commands/util.ts'
import type { Node } from '../../../codecs/node.ts'

const node = (b: number): Node => {
  const id = new Uint8Array(32).fill(b)
  return { id, pubkey: new Uint8Array(64).fill(b), ip: '127.0.0.1', udp: 30000 + b, tcp: 30000 + b }
}
const idHex = (n: Node) => hex(n.id)

describe('discv4 crawl', () => {
  it('asks a node whose ENR request failed again; a node that never answers is asked CRAWL_ENR_ATTEMPTS times', async () => {
    const [self, boot, flaky, silent, walked] = [0, 1, 2, 3, 4].map(node) as [Node, Node, Node, Node, Node]
    const asked = new Map<string, number>()
    const fake = {
      self: () => self,
      table: { len: () => 1, nodes: () => [flaky] },
      randomNodes: () => of(silent, walked, self),
      async requestENR(n: Node): Promise<Node> {
        const k = idHex(n)
        const tries = (asked.get(k) ?? 0) + 1
        asked.set(k, tries)
        await new Promise((r) => setTimeout(r, 5))
        if (n === silent || (n === flaky && tries === 1)) throw new Error('timeout')
        return { ...n, udp: n.udp! + 1000 }
      },
    } as unknown as Discv4
    const stderr = process.stderr.write
    process.stderr.write = () => true
    let found: Awaited<ReturnType<typeof crawl>>
    try {
      found = await crawl(fake, [boot], 400, 20)
    } finally {
      process.stderr.write = stderr
    }
    assert.deepEqual([...found.keys()].sort(), [boot, flaky, silent, walked].map(idHex).sort())
    for (const n of [boot, walked]) {
      assert.equal(asked.get(idHex(n)), 1)
      assert.equal(found.get(idHex(n))!.node.udp, n.udp! + 1000, 'the answered record replaces the node')
    }
    assert.equal(asked.get(idHex(flaky)), 2, 'asked again after the failure')
    assert.ok(found.get(idHex(flaky))!.firstResponse !== undefined)
    assert.equal(asked.get(idHex(silent)), CRAWL_ENR_ATTEMPTS)
    assert.equal(found.get(idHex(silent))!.firstResponse, undefined)
    assert.equal(asked.has(idHex(self)), false, 'never asks itself')
  })
})
