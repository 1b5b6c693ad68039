#!/usr/bin/env node
// Entry point of the `devp2p-actors` command: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api'

register()
await import('../cli/main.ts')
