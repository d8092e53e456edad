// Random or sequential access to the files of an image archive: a tar (plain, gzip or zstd) or a directory.
// A first pass over a tar keeps small files (JSON) in memory and notes every entry's size, link target
// and data offset; blobs are then read by byte range (plain tar file) or in a second streaming pass.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import tar from 'tar-stream';
import { Decompress } from 'fzstd';

export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

export type Compression = 'none' | 'gzip' | 'zstd';

export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** POSIX ustar and GNU tar both put "ustar" at offset 257 of the first header. */
export function looksLikeTar(head: Buffer): boolean {
  return head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
}

/** The bytes of a file, or of a contiguous range inside one (a member of a plain tar bundle). */
export interface ByteSource {
  label: string;
  path: string;
  start: number;
  size: number;
}

export async function fileSource(file: string, label = file): Promise<ByteSource> {
  const st = await fsp.stat(file);
  return { label, path: file, start: 0, size: st.size };
}

function openRange(src: ByteSource, start = 0, size = src.size - start): Readable {
  if (size <= 0) return Readable.from([]);
  return fs.createReadStream(src.path, { start: src.start + start, end: src.start + start + size - 1, highWaterMark: 256 * 1024 });
}

async function readRange(src: ByteSource, start: number, size: number): Promise<Buffer> {
  const fh = await fsp.open(src.path, 'r');
  try {
    const buf = Buffer.alloc(Math.max(0, Math.min(size, src.size - start)));
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, src.start + start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  } finally {
    await fh.close();
  }
}

class ZstdDecompress extends Transform {
  private readonly zstd = new Decompress((chunk) => {
    this.push(Buffer.from(chunk));
  });
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.zstd.push(chunk);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.zstd.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

export function decompressor(c: Compression): Transform {
  if (c === 'gzip') return zlib.createGunzip();
  if (c === 'zstd') return new ZstdDecompress();
  return new PassThrough();
}

/** Decompressed bytes of a source; errors of either stage come out of the returned stream. */
function openDecompressed(src: ByteSource, c: Compression): Readable {
  const raw = openRange(src);
  if (c === 'none') return raw;
  const out = decompressor(c);
  raw.on('error', (err) => out.destroy(err));
  raw.pipe(out);
  return out;
}

export function describeStreamError(label: string, c: Compression, err: unknown): string {
  const msg = (err as Error)?.message ?? String(err);
  const code = (err as { code?: string })?.code ?? '';
  if (c === 'gzip' && (code.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/.test(msg))) {
    return `${label} is corrupt or truncated: gzip data unreadable (${msg})`;
  }
  if (c === 'zstd' && !/tar|Unexpected end of data/.test(msg)) return `${label} is corrupt or truncated: zstd data unreadable (${msg})`;
  if (/Unexpected end of data/.test(msg)) return `${label} is truncated or corrupt: the tar data ends in the middle of an entry`;
  if (/Invalid tar header|Invalid header/.test(msg)) return `${label} is not a readable tar archive: ${msg}`;
  return `${label}: ${msg}`;
}

/** Normalised entry name ('' for the root), refusing absolute paths and '..'. */
export function safeEntryName(label: string, raw: string): string {
  if (raw.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw)) {
    throw new ArchiveError(`${label} is refused: entry ${JSON.stringify(raw)} has an absolute path`);
  }
  const parts: string[] = [];
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw new ArchiveError(`${label} is refused: entry ${JSON.stringify(raw)} climbs out of the archive with '..'`);
    parts.push(p);
  }
  return parts.join('/');
}

/** Where a link points, as an entry name inside the archive; refuses targets outside it. */
export function linkTarget(label: string, entry: string, type: 'link' | 'symlink', target: string): string {
  const escape = () =>
    new ArchiveError(`${label} is refused: ${type === 'link' ? 'hard link' : 'symlink'} ${JSON.stringify(entry)} -> ${JSON.stringify(target)} points outside the archive`);
  if (target.startsWith('/')) throw escape();
  const joined = type === 'link' ? target : path.posix.join(path.posix.dirname(entry), target);
  const normal = path.posix.normalize(joined);
  if (normal === '..' || normal.startsWith('../') || normal.startsWith('/')) throw escape();
  return safeEntryName(label, normal);
}

export interface EntryInfo {
  name: string;
  type: 'file' | 'link' | 'symlink' | 'directory' | 'other';
  size: number;
  /** Data offset from the start of the (uncompressed) tar. */
  offset: number;
  linkTo?: string;
  /** First bytes of the data (up to 512): compression and tar sniffing of members. */
  head: Buffer;
}

/** `open` gives the entry's bytes: a fresh stream per call by byte range, or only once in a streaming pass. */
export interface EntryVisitor {
  (info: EntryInfo, open: () => Readable): Promise<void>;
}

/** Files of one archive, by normalised name. */
export interface Archive {
  readonly label: string;
  readonly compression: Compression;
  /** True when blobs can be read in parallel by byte range. */
  readonly randomAccess: boolean;
  names(): string[];
  /** The entry, links followed; undefined when absent or dangling. */
  stat(name: string): EntryInfo | undefined;
  readSmall(name: string, limit?: number): Promise<Buffer>;
  /**
   * Calls `visit` with the data of each named entry (links followed, each real file once). `visit` must
   * read the stream to its end. Returns the failures by entry name; a broken archive fails what is left.
   */
  forEach(names: string[], concurrency: number, visit: EntryVisitor, signal?: AbortSignal): Promise<Map<string, Error>>;
  /** A member's bytes as a range of a real file, when the archive allows it (plain tar file, directory). */
  memberSource(name: string): ByteSource | undefined;
}

const SMALL_FILE = 1024 * 1024;
const SMALL_BUDGET = 64 * 1024 * 1024;

function drain(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('error', reject);
    stream.on('end', resolve);
    stream.resume();
  });
}

/** Hands a tar entry to a consumer that may destroy it, without destroying the whole tar parse. */
function shield(entry: Readable): { stream: Readable; done: Promise<void> } {
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  let finished = false;
  const done = new Promise<void>((resolve, reject) => {
    entry.on('error', (err) => {
      out.destroy(err);
      reject(err);
    });
    entry.on('data', (chunk: Buffer) => {
      if (finished) return;
      if (!out.write(chunk)) entry.pause();
    });
    out.on('drain', () => entry.resume());
    out.on('close', () => {
      if (!finished) {
        finished = true;
        entry.resume(); // consumer gave up: swallow the rest of the entry
      }
    });
    entry.on('end', () => {
      if (!finished) out.end();
      finished = true;
      resolve();
    });
  });
  return { stream: out, done };
}

interface TarScan {
  entries: Map<string, EntryInfo>;
  small: Map<string, Buffer>;
}

async function iterateTar(
  label: string,
  compression: Compression,
  input: Readable,
  onEntry: (info: EntryInfo, entry: Readable) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const extract = tar.extract();
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  const abort = () => input.destroy(new Error(`loading ${label} was aborted`));
  signal?.addEventListener('abort', abort, { once: true });
  try {
    for await (const entry of extract as AsyncIterable<Readable & { header: tar.Header & { byteOffset?: number } }>) {
      if (signal?.aborted) throw new Error(`loading ${label} was aborted`);
      const h = entry.header;
      const name = safeEntryName(label, h.name);
      const type: EntryInfo['type'] =
        h.type === 'file' || h.type === 'contiguous-file' ? 'file' : h.type === 'link' || h.type === 'symlink' || h.type === 'directory' ? h.type : 'other';
      const info: EntryInfo = { name, type, size: type === 'file' ? (h.size ?? 0) : 0, offset: h.byteOffset ?? -1, head: Buffer.alloc(0) };
      if (type === 'link' || type === 'symlink') info.linkTo = linkTarget(label, h.name, type, h.linkname ?? '');
      await onEntry(info, entry);
    }
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(`loading ${label} was aborted`);
    throw new ArchiveError(describeStreamError(label, compression, err));
  } finally {
    signal?.removeEventListener('abort', abort);
    input.destroy();
  }
}

async function scanTar(label: string, compression: Compression, input: Readable, signal?: AbortSignal): Promise<TarScan> {
  const entries = new Map<string, EntryInfo>();
  const small = new Map<string, Buffer>();
  let budget = SMALL_BUDGET;
  await iterateTar(
    label,
    compression,
    input,
    async (info, entry) => {
      if (!info.name) return drain(entry);
      const keep = info.type === 'file' && info.size <= SMALL_FILE && info.size <= budget;
      const chunks: Buffer[] = [];
      let headLen = 0;
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        if (keep) chunks.push(chunk);
        else if (headLen < 512) {
          chunks.push(chunk.subarray(0, 512 - headLen));
          headLen += Math.min(chunk.length, 512 - headLen);
        }
      }
      const data = Buffer.concat(chunks);
      info.head = data.subarray(0, 512);
      if (keep) {
        small.set(info.name, data);
        budget -= data.length;
      }
      entries.set(info.name, info);
    },
    signal,
  );
  return { entries, small };
}

function resolveLinks(label: string, entries: Map<string, EntryInfo>, name: string): EntryInfo | undefined {
  let info = entries.get(name);
  for (let hops = 0; info && (info.type === 'link' || info.type === 'symlink'); hops++) {
    if (hops > 16) throw new ArchiveError(`${label}: entry ${JSON.stringify(name)} is a chain of more than 16 links`);
    info = entries.get(info.linkTo!);
  }
  return info && info.type === 'file' ? info : undefined;
}

export class TarArchive implements Archive {
  private constructor(
    readonly label: string,
    readonly source: ByteSource,
    readonly compression: Compression,
    private readonly scan: TarScan,
    readonly randomAccess: boolean,
  ) {}

  static async open(source: ByteSource, compression: Compression, signal?: AbortSignal): Promise<TarArchive> {
    const scan = await scanTar(source.label, compression, openDecompressed(source, compression), signal);
    let randomAccess = compression === 'none';
    if (randomAccess) {
      // tar-stream's byteOffset is not documented API: check it against one file before trusting it.
      const probe = [...scan.small.entries()].find(([, b]) => b.length > 0);
      if (probe) {
        const info = scan.entries.get(probe[0])!;
        const bytes = await readRange(source, info.offset, info.size);
        randomAccess = info.offset >= 0 && bytes.equals(probe[1]);
      }
    }
    return new TarArchive(source.label, source, compression, scan, randomAccess);
  }

  names(): string[] {
    return [...this.scan.entries.keys()];
  }

  stat(name: string): EntryInfo | undefined {
    return resolveLinks(this.label, this.scan.entries, name);
  }

  async readSmall(name: string, limit = 16 * 1024 * 1024): Promise<Buffer> {
    const info = this.stat(name);
    if (!info) throw new ArchiveError(`${this.label} has no file ${JSON.stringify(name)}`);
    const kept = this.scan.small.get(info.name);
    if (kept) return kept;
    if (info.size > limit) throw new ArchiveError(`${this.label}: ${name} is ${info.size} bytes, more than the ${limit} expected of a JSON file`);
    if (this.randomAccess) return readRange(this.source, info.offset, info.size);
    let out: Buffer | undefined;
    const failures = await this.forEach([name], 1, async (_i, open) => {
      const chunks: Buffer[] = [];
      for await (const c of open() as AsyncIterable<Buffer>) chunks.push(c);
      out = Buffer.concat(chunks);
    });
    if (!out) throw failures.get(info.name) ?? new ArchiveError(`${this.label}: ${name} could not be read`);
    return out;
  }

  memberSource(name: string): ByteSource | undefined {
    const info = this.stat(name);
    if (!info || !this.randomAccess) return undefined;
    return { label: `${this.label}!${name}`, path: this.source.path, start: this.source.start + info.offset, size: info.size };
  }

  async forEach(names: string[], concurrency: number, visit: EntryVisitor, signal?: AbortSignal): Promise<Map<string, Error>> {
    const failures = new Map<string, Error>();
    const wanted = new Map<string, EntryInfo>();
    for (const n of names) {
      const info = this.stat(n);
      if (info) wanted.set(info.name, info);
      else failures.set(n, new ArchiveError(`${this.label} has no file ${JSON.stringify(n)}`));
    }
    if (this.randomAccess) {
      const queue = [...wanted.values()];
      const worker = async () => {
        for (let info = queue.shift(); info; info = queue.shift()) {
          if (signal?.aborted) {
            failures.set(info.name, new Error(`loading ${this.label} was aborted`));
            continue;
          }
          const opened: Readable[] = [];
          const entry = info;
          try {
            await visit(info, () => {
              const s = openRange(this.source, entry.offset, entry.size);
              opened.push(s);
              return s;
            });
          } catch (err) {
            failures.set(info.name, err as Error);
          } finally {
            for (const s of opened) s.destroy();
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, queue.length)) }, worker));
      return failures;
    }
    const pending = new Set(wanted.keys());
    try {
      await iterateTar(
        this.label,
        this.compression,
        openDecompressed(this.source, this.compression),
        async (info, entry) => {
          if (!pending.has(info.name)) return drain(entry);
          pending.delete(info.name);
          let shielded: ReturnType<typeof shield> | undefined;
          const open = () => {
            if (shielded) throw new ArchiveError(`${this.label}: ${info.name} can be read only once per pass of a compressed archive`);
            shielded = shield(entry);
            return shielded.stream;
          };
          try {
            await visit(wanted.get(info.name)!, open);
          } catch (err) {
            failures.set(info.name, err as Error);
            shielded?.stream.destroy();
          }
          if (shielded) await shielded.done;
          else await drain(entry);
        },
        signal,
      );
    } catch (err) {
      for (const n of pending) failures.set(n, err as Error);
      pending.clear();
    }
    for (const n of pending) failures.set(n, new ArchiveError(`${this.label}: ${n} was not found in the second pass`));
    return failures;
  }
}

/** An extracted archive: an OCI layout or docker-save directory. */
export class DirArchive implements Archive {
  readonly compression = 'none' as const;
  readonly randomAccess = true;
  private constructor(
    readonly label: string,
    readonly root: string,
    private readonly entries: Map<string, EntryInfo & { real: string }>,
  ) {}

  static async open(root: string, label = root): Promise<DirArchive> {
    const realRoot = await fsp.realpath(root);
    const entries = new Map<string, EntryInfo & { real: string }>();
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const d of (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const name = rel ? `${rel}/${d.name}` : d.name;
        const full = path.join(dir, d.name);
        let real = full;
        if (d.isSymbolicLink()) {
          real = await fsp.realpath(full).catch(() => full);
          if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
            throw new ArchiveError(`${label} is refused: symlink ${JSON.stringify(name)} points outside the directory`);
          }
        }
        const st = await fsp.stat(real).catch(() => undefined);
        if (!st) continue;
        if (st.isDirectory()) {
          if (!d.isSymbolicLink()) await walk(full, name);
        } else if (st.isFile()) {
          entries.set(name, { name, type: 'file', size: st.size, offset: 0, head: await readHead({ label, path: real, start: 0, size: st.size }), real });
        }
      }
    };
    await walk(realRoot, '');
    return new DirArchive(label, realRoot, entries);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
  stat(name: string): EntryInfo | undefined {
    return this.entries.get(name);
  }
  async readSmall(name: string, limit = 16 * 1024 * 1024): Promise<Buffer> {
    const e = this.entries.get(name);
    if (!e) throw new ArchiveError(`${this.label} has no file ${JSON.stringify(name)}`);
    if (e.size > limit) throw new ArchiveError(`${this.label}: ${name} is ${e.size} bytes, more than the ${limit} expected of a JSON file`);
    return fsp.readFile(e.real);
  }
  memberSource(name: string): ByteSource | undefined {
    const e = this.entries.get(name);
    return e && { label: path.join(this.label, name), path: e.real, start: 0, size: e.size };
  }
  async forEach(names: string[], concurrency: number, visit: EntryVisitor, signal?: AbortSignal): Promise<Map<string, Error>> {
    const failures = new Map<string, Error>();
    const queue = [...new Set(names)];
    const worker = async () => {
      for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
        const e = this.entries.get(n);
        if (!e) {
          failures.set(n, new ArchiveError(`${this.label} has no file ${JSON.stringify(n)}`));
          continue;
        }
        if (signal?.aborted) {
          failures.set(n, new Error(`loading ${this.label} was aborted`));
          continue;
        }
        const opened: Readable[] = [];
        const entry = e;
        try {
          await visit(e, () => {
            const s = entry.size > 0 ? fs.createReadStream(entry.real, { highWaterMark: 256 * 1024 }) : Readable.from([]);
            opened.push(s);
            return s;
          });
        } catch (err) {
          failures.set(n, err as Error);
        } finally {
          for (const s of opened) s.destroy();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, queue.length)) }, worker));
    return failures;
  }
}

export async function readHead(src: ByteSource, n = 512): Promise<Buffer> {
  return readRange(src, 0, n);
}

/** Opens a file (or range) holding a tar, compressed or not; undefined for an empty file. */
export async function openTar(src: ByteSource, signal?: AbortSignal): Promise<TarArchive | undefined> {
  if (src.size === 0) return undefined;
  const head = await readHead(src, 512);
  const compression = sniffCompression(head);
  if (compression === 'none' && !looksLikeTar(head)) {
    throw new ArchiveError(`${src.label} is not an image archive: neither a tar file nor gzip/zstd compressed`);
  }
  return TarArchive.open(src, compression, signal);
}
