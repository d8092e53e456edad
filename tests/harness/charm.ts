// Unpacks a packed .charm (a zip) the way Juju does, keeping each entry's Unix mode so that
// `dispatch` stays executable.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yauzl from 'yauzl';

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

/** Extracts charmFile into destDir (default: a new temp dir) and returns the directory. */
export async function extractCharm(charmFile: string, destDir?: string): Promise<string> {
  const dest = destDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'charm-'));
  fs.mkdirSync(dest, { recursive: true });
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(charmFile, { lazyEntries: true, autoClose: true }, (err, z) => (err ? reject(err) : resolve(z))),
  );
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry: yauzl.Entry) => {
      const target = path.resolve(dest, entry.fileName);
      if (target !== dest && !target.startsWith(dest + path.sep)) {
        zip.close();
        reject(new Error(`${charmFile}: entry "${entry.fileName}" escapes the extraction directory`));
        return;
      }
      const unixMode = (entry.externalFileAttributes >>> 16) & 0xffff;
      const type = unixMode & S_IFMT;
      const perm = unixMode & 0o7777;
      if (entry.fileName.endsWith('/') || type === S_IFDIR) {
        fs.mkdirSync(target, { recursive: true });
        if (perm) fs.chmodSync(target, perm);
        zip.readEntry();
        return;
      }
      fs.mkdirSync(path.dirname(target), { recursive: true });
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) {
          reject(err ?? new Error(`cannot read ${entry.fileName}`));
          return;
        }
        if (type === S_IFLNK) {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            fs.symlinkSync(Buffer.concat(chunks).toString('utf8'), target);
            zip.readEntry();
          });
          return;
        }
        // Zips written without Unix attributes (mode 0) get the usual 0644.
        const out = fs.createWriteStream(target, { mode: perm || 0o644 });
        stream.on('error', reject);
        out.on('error', reject);
        out.on('finish', () => {
          fs.chmodSync(target, perm || 0o644);
          zip.readEntry();
        });
        stream.pipe(out);
      });
    });
    zip.readEntry();
  });
  return dest;
}
