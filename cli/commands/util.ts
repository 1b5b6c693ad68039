// Shared helpers of the CLI commands: output lines, JSON with bigints and bytes, aligned key/value blocks.

/** Print one line to stdout. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`)
}

/** JSON with bigints as decimal strings and byte arrays as hex. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) => {
      if (typeof v === 'bigint') return v.toString()
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
      return v
    },
    2,
  )
}

/** Print `label: value` rows with the values aligned. */
export function printRows(rows: [string, string][]): void {
  const width = Math.max(...rows.map(([k]) => k.length)) + 1
  for (const [k, v] of rows) out(`${`${k}:`.padEnd(width + 1)}${v}`)
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/**
 * Resolve on the first SIGINT or SIGTERM (handlers installed at once, removed after). `cancel()` removes them
 * without waiting, for a start that failed.
 */
export function stopSignal(): { signalled: Promise<void>; cancel(): void } {
  let cancel!: () => void
  const signalled = new Promise<void>((resolve) => {
    cancel = () => {
      process.removeListener('SIGINT', cancel)
      process.removeListener('SIGTERM', cancel)
      resolve()
    }
  })
  process.once('SIGINT', cancel)
  process.once('SIGTERM', cancel)
  return { signalled, cancel }
}
