import { startTestRegistry } from './registry.js';

test('a test registry answers the distribution API on 127.0.0.1', async () => {
  const reg = await startTestRegistry();
  try {
    const res = await fetch(`${reg.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  } finally {
    await reg.stop();
  }
});
