// snappyjs ships no types; these are the two functions it exports (raw Snappy blocks).
declare module 'snappyjs' {
  /** Throws when the stream is invalid or says it decompresses to more than `maxLength` bytes. */
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T;
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T;
  const snappy: { uncompress: typeof uncompress; compress: typeof compress };
  export default snappy;
}
