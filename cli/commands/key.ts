// `devp2p-actors key generate|show`: node keys as geth uses them (`--nodekey` file, `--nodekeyhex`).
import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { formatEnode } from '../../codecs/enode.ts'
import { loadNodeKey, nodeIdOf, parsePrivateKeyHex, saveNodeKey } from '../../crypto/keys.ts'
import { generatePrivateKey, publicKeyOf } from '../../crypto/secp256k1.ts'
import { hex, out, printRows, toJson } from './util.ts'

export function register(program: Command): void {
  const key = program.command('key').description('node key tools (geth nodekey files and --nodekeyhex)')

  key
    .command('generate')
    .description('generate a secp256k1 node key; print its hex, or write a geth nodekey file')
    .option('--out <file>', 'write the key as a geth nodekey file (64 hex characters, mode 0600)')
    .option('--force', 'overwrite an existing --out file')
    .action((opts: { out?: string; force?: boolean }) => {
      const priv = generatePrivateKey()
      if (opts.out === undefined) {
        out(hex(priv))
        return
      }
      if (existsSync(opts.out) && !opts.force)
        throw new Error(`${opts.out} already exists (use --force to overwrite)`)
      saveNodeKey(opts.out, priv)
      out(`Node ID: ${hex(nodeIdOf(publicKeyOf(priv)))}`)
    })

  key
    .command('show')
    .description('print the node id, enode URL (without address) and public key of a node key')
    .option('--nodekeyhex <hex>', 'private key as hex (geth --nodekeyhex)')
    .option('--nodekey <file>', 'geth nodekey file')
    .option('--json', 'print JSON')
    .action((opts: { nodekeyhex?: string; nodekey?: string; json?: boolean }) => {
      if ((opts.nodekeyhex === undefined) === (opts.nodekey === undefined))
        throw new Error('give exactly one of --nodekeyhex HEX or --nodekey FILE')
      const priv =
        opts.nodekeyhex !== undefined ? parsePrivateKeyHex(opts.nodekeyhex) : loadNodeKey(opts.nodekey!)
      const pubkey = publicKeyOf(priv)
      const id = nodeIdOf(pubkey)
      const enode = formatEnode({ pubkey })
      if (opts.json) out(toJson({ id, enode, pubkey }))
      else
        printRows([
          ['Node ID', hex(id)],
          ['enode', enode],
          ['Public key', hex(pubkey)],
        ])
    })
}
