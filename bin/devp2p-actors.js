#!/usr/bin/env node
// Entry point of the `devp2p-actors` command: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../cli/main.ts')
process.exitCode = await main(process.argv)
