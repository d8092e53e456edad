import YAML from 'yaml';
import { listenAddress, renderRegistryConfig } from '../../src/registry/config.js';
import { renderUnitFile } from '../../src/registry/service.js';

const base = { dataDir: '/var/lib/offline-registry/data', httpSecret: 's3cret', logLevel: 'info' };

test('the public instance is read-only, on every address, with no blob cache', async () => {
  const config = YAML.parse(await renderRegistryConfig({ ...base, role: 'public', listen: ':5000', hostUrl: 'http://10.0.0.7:5000' }));
  expect(config.storage.maintenance.readonly.enabled).toBe(true);
  expect(config.storage.maintenance.uploadpurging.enabled).toBe(false);
  expect(config.storage.cache).toBeUndefined();
  expect(config.http.addr).toBe(':5000');
  expect(config.http.host).toBe('http://10.0.0.7:5000');
});

test('both instances share storage and http.secret; only the writer can write', async () => {
  const pub = YAML.parse(await renderRegistryConfig({ ...base, role: 'public', listen: ':5000', hostUrl: 'http://h:5000' }));
  const writer = YAML.parse(await renderRegistryConfig({ ...base, role: 'writer', listen: '127.0.0.1:5001', hostUrl: 'http://127.0.0.1:5001' }));
  expect(writer.storage.filesystem.rootdirectory).toBe(pub.storage.filesystem.rootdirectory);
  expect(writer.http.secret).toBe(pub.http.secret);
  expect(writer.storage.maintenance.readonly.enabled).toBe(false);
  expect(writer.http.addr).toBe('127.0.0.1:5001');
});

test('listen addresses bracket IPv6 and leave an empty host for every address', async () => {
  expect(listenAddress('', 5000)).toBe(':5000');
  expect(listenAddress('fd00::1', 5000)).toBe('[fd00::1]:5000');
  expect(listenAddress('[fd00::1]', 5000)).toBe('[fd00::1]:5000');
  expect(listenAddress('127.0.0.1', 5001)).toBe('127.0.0.1:5001');
});

test('the unit file runs the registry binary on its config as the registry account', async () => {
  const unit = renderUnitFile({ role: 'public', binary: '/usr/bin/docker-registry', configPath: '/etc/offline-registry/public.yml', user: 'docker-registry' });
  expect(unit).toContain('ExecStart=/usr/bin/docker-registry serve /etc/offline-registry/public.yml');
  expect(unit).toContain('User=docker-registry');
  expect(unit).toContain('WantedBy=multi-user.target');
});
