// The `devp2p-actors` command line (commander): key, enr and enode tools; the node command follows.
import { Command } from 'commander'

export function buildProgram(): Command {
  const program = new Command('devp2p-actors')
    .description('Ethereum devp2p networking stack as XState actors and RxJS streams')
    .version('0.1.0')
  return program
}

await buildProgram().parseAsync(process.argv)
