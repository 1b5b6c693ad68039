// devp2p-actors behind the bench seam (bench/procs/impl.ts). Placeholder until actors/peer.ts lands.
import type { BenchImpl } from './impl.ts'

export const oursImpl: BenchImpl = {
  name: 'ours',
  start() {
    return Promise.reject(new Error('actors/peer.ts is not there yet'))
  },
}
