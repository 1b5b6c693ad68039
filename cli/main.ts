// The `devp2p-actors` command line (commander): key, enr and enode tools; later commands (node, discv4 …)
// are one file each under cli/commands/ exporting `register(program)`, listed in COMMANDS below.
//
// API
//   buildProgram()      the commander program with every command registered (no parsing, no exit)
//   main(argv)          parse and run; resolves to the exit code (errors print one line to stderr)
// Run directly (`tsx cli/main.ts …`, `npm start -- …`) it executes; imported (bin/, tests) it does not.
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { Command, CommanderError } from 'commander'
import * as devnet from './commands/devnet.ts'
import * as discv4 from './commands/discv4.ts'
import * as dns from './commands/dns.ts'
import * as enode from './commands/enode.ts'
import * as enr from './commands/enr.ts'
import * as key from './commands/key.ts'
import * as node from './commands/node.ts'
import * as rlpx from './commands/rlpx.ts'

export const PROGRAM_NAME = 'devp2p-actors'

/** Each command module registers its subcommands on the program. */
const COMMANDS: { register(program: Command): void }[] = [key, enr, enode, discv4, dns, rlpx, node, devnet]

export function buildProgram(): Command {
  const program = new Command(PROGRAM_NAME)
    .description('Ethereum devp2p networking stack as XState actors and RxJS streams')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
  for (const c of COMMANDS) c.register(program)
  for (const sub of program.commands) sub.exitOverride()
  return program
}

/** Run the CLI on `argv` (node-style: [node, script, ...args]); resolves to the process exit code. */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv])
    return 0
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode // commander already printed its message
    const message = e instanceof Error ? e.message : String(e)
    process.stderr.write(`${PROGRAM_NAME}: ${message.split('\n')[0]}\n`)
    return 1
  }
}

function isEntry(): boolean {
  const script = process.argv[1]
  if (!script) return false
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url
  } catch {
    return false
  }
}

if (isEntry()) process.exitCode = await main(process.argv)
