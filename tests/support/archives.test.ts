import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { layerTarSize, writeDockerSave } from './archives.js';

test('generated docker save archives are read by skopeo with the layers we wrote', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'archives-'));
  try {
    const file = path.join(dir, 'save.tar');
    const { diffIds } = await writeDockerSave(file, [
      { tags: ['example.com/a/one:1'], layers: [{ seed: 'base', size: 100_000 }, { seed: 'one', size: 3000 }] },
      { tags: ['example.com/a/two:1'], layers: [{ seed: 'base', size: 100_000 }, { seed: 'two', size: 5000 }] },
    ]);
    expect(diffIds[0][0]).toBe(diffIds[1][0]);
    const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' });
    expect(listing.match(/layer\.tar/g)).toHaveLength(3); // the shared base is stored once
    expect(listing).toContain(String(layerTarSize(100_000)));
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${file}:example.com/a/two:1`], { encoding: 'utf8' }));
    expect(inspect.Layers).toEqual(diffIds[1]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
