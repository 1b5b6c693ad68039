// V8 tuning for a process that runs a devp2p server: what bin/devp2p-actors.js applies at startup, as geth's
// binary tunes its Go runtime's GC at startup (cmd/utils/flags.go: godebug.SetGCPercent). The library never
// changes V8 flags by itself; embedders opt in with applyServerV8Flags().
//
// Why: every connection is a handful of XState actors whose objects live for milliseconds. V8's
// allocation-site pretenuring sees many of XState's allocation sites (the Actor constructor, enterStates,
// update, …) survive their first scavenges while connections are in flight, marks them "tenure" and from then
// on allocates those objects directly in old space — among them each actor's `_actorScope`, which holds the
// actor itself. A finished actor's dead old-space parts then keep it and its young objects (last snapshot,
// context, input, transport) alive through every scavenge until the next full GC: they get copied and
// promoted. In one process (bench/supervisor.bench.ts's bare arm) the flag cuts the bytes promoted per
// connection from about 19 kB to 6 kB, the scavenge time per connection from about 33 to 11 µs and the
// connection's cost from about 185 to 142 µs. Across processes (bench/server.bench.ts), six alternating pairs
// with and without it gave the listener 10 % less CPU per connection (−0.16 ± 0.09 ms); the bench's own rows for
// the binary, run after its default rows and so not paired with them, have ranged from 16 % less to 7 % more.
//
// API
//   SERVER_V8_FLAGS                         the flags
//   applyServerV8Flags(env?) → flags        apply them to this process, once; DEVP2P_V8_TUNING=0 opts out
//                                           (returns []). Call it first, before the process has allocated much:
//                                           V8 reads this flag at every scavenge, but Node documents flag changes
//                                           after startup as unsupported in general.
import { setFlagsFromString } from 'node:v8'

/** The V8 flags a server process runs with (see the module comment). */
export const SERVER_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring']

let applied = false

/** Apply SERVER_V8_FLAGS to this process (idempotent) unless `DEVP2P_V8_TUNING=0`; returns the flags applied. */
export function applyServerV8Flags(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  if (env.DEVP2P_V8_TUNING === '0') return []
  if (!applied) {
    for (const f of SERVER_V8_FLAGS) setFlagsFromString(f)
    applied = true
  }
  return SERVER_V8_FLAGS
}
