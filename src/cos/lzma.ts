// cos-lib's LZMABase64: LZMA-compressed, base64-encoded text. cos-lib writes the .xz container;
// every reader (LZMABase64.decompress: Python's lzma.decompress with FORMAT_AUTO) takes the
// .lzma container too, which LZMA-JS (pure JavaScript, MIT) writes: no native module to build.

interface LzmaCompressor { compress(input: string, mode: number): number[] }

/** LZMA-compresses `text` (UTF-8) and base64-encodes it, as LZMABase64.compress does. */
export async function lzmaBase64(text: string): Promise<string> {
  // Loaded only when a payload changed: hooks on a converged unit never parse it.
  const mod = (await import('lzma/src/lzma-c.js')) as unknown as { LZMA?: LzmaCompressor; default?: { LZMA?: LzmaCompressor } };
  const lzma = mod.LZMA ?? mod.default?.LZMA;
  if (!lzma) throw new Error('lzma/src/lzma-c.js did not export LZMA: the bundled lzma package changed');
  // LZMA-JS returns signed bytes; Buffer.from takes them modulo 256. Mode 9: best compression
  // (relation data is stored by the controller for every unit).
  return Buffer.from(lzma.compress(text, 9)).toString('base64');
}
