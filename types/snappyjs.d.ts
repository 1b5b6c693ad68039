// Types for snappyjs 0.7 (pure-JS Snappy block format): the two functions the codecs use.
declare module 'snappyjs' {
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T
}
