// A pass-through that hashes a blob while it streams and withholds its last chunk until digest and size
// are proven: on a mismatch the registry has received fewer bytes than Content-Length and cannot commit.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BlobVerificationError } from './errors.js';

export class DigestVerifier extends Transform {
  readonly digest: string;
  readonly size: number;
  /** Set when verification failed, so callers can tell it from the transport error the abort causes. */
  failure: BlobVerificationError | null = null;
  private readonly hash: Hash | null;
  private bytes = 0;
  private held: Buffer | null = null;

  /**
   * `hashLocally: false` checks only the size and leaves the digest to the receiving registry, which
   * verifies `?digest=` on the PUT before it commits anything (the CNCF distribution registry does):
   * the same bytes are then hashed once, not twice.
   */
  constructor(digest: string, size: number, opts: { hashLocally?: boolean } = {}) {
    super();
    this.hash = opts.hashLocally === false ? null : createHash('sha256');
    if (!digest.startsWith('sha256:')) throw new Error(`cannot verify ${digest}: only sha256 digests are supported`);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`invalid size ${size} for blob ${digest}: expected a byte count >= 0`);
    this.digest = digest;
    this.size = size;
  }

  private fail(message: string, callback: TransformCallback): void {
    this.failure = new BlobVerificationError(message);
    callback(this.failure);
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding);
    if (buf.length === 0) return callback();
    this.bytes += buf.length;
    if (this.bytes > this.size) {
      return this.fail(`blob ${this.digest} is longer than its declared size of ${this.size} bytes: its stream gave at least ${this.bytes}`, callback);
    }
    this.hash?.update(buf);
    const release = this.held;
    this.held = buf;
    if (release) callback(null, release);
    else callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.size) {
      return this.fail(`blob ${this.digest} is shorter than its declared size: its stream gave ${this.bytes} of ${this.size} bytes`, callback);
    }
    const got = this.hash ? `sha256:${this.hash.digest('hex')}` : this.digest;
    if (got !== this.digest) {
      return this.fail(`blob ${this.digest} does not match its digest: got ${got}`, callback);
    }
    if (this.held) this.push(this.held);
    this.held = null;
    callback();
  }
}
