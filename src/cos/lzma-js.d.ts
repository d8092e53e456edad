declare module 'lzma/src/lzma-c.js' {
  export const LZMA: { compress(input: string, mode: number): number[] };
}
