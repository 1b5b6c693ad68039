// `node --import ./bench/procs/plain-ts.mjs file.ts`: registers plain-ts-hooks.mjs (TypeScript without tsx's
// keepNames; see there).
import { register } from 'node:module'

register('./plain-ts-hooks.mjs', import.meta.url)
