#!/usr/bin/env node
// Entry point of the `devp2p-actors` command: runs the TypeScript CLI through tsx, with the server process's V8
// tuning (actors/v8-tuning.ts; DEVP2P_V8_TUNING=0 runs without it) applied before the CLI loads.
import { register } from 'tsx/esm/api'

register()
const { applyServerV8Flags } = await import('../actors/v8-tuning.ts')
applyServerV8Flags()
const { main } = await import('../cli/main.ts')
process.exitCode = await main(process.argv)
