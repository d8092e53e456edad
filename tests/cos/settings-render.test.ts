// metrics-port validation and the registry's debug server in the rendered config.
import YAML from 'yaml';
import { renderExporterUnit } from '../../src/cos/index.js';
import { renderRegistryConfig } from '../../src/registry/config.js';
import { SettingsError, metricsPortConflict, metricsPorts, parseSettings } from '../../src/settings.js';

test('metrics-port takes three ports that must not overlap port or writer-port while served', () => {
  expect(metricsPorts(parseSettings({}))).toEqual({ public: 5002, writer: 5003, charm: 5004 });
  expect(metricsPorts(parseSettings({ 'metrics-port': 9300 }))).toEqual({ public: 9300, writer: 9301, charm: 9302 });
  const refuse = (config: Record<string, number>) => {
    try {
      parseSettings(config);
    } catch (err) {
      expect(err).toBeInstanceOf(SettingsError);
      expect((err as SettingsError).option).toBe('metrics-port');
      return (err as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(config)}`);
  };
  expect(refuse({ 'metrics-port': 65534 })).toMatch(/^invalid metrics-port 65534: it uses three ports \(65534-65536\)/);
  // Overlaps matter only while metrics are served (cos-agent related): parsing accepts them.
  expect(metricsPortConflict(parseSettings({ 'metrics-port': 4999 }))).toBe('invalid metrics-port 4999: its ports 4999-5001 include port 5000');
  expect(metricsPortConflict(parseSettings({ 'metrics-port': 5001, port: 6000 }))).toBe('invalid metrics-port 5001: its ports 5001-5003 include writer-port 5001');
  expect(metricsPortConflict(parseSettings({ port: 5003 }))).toBe('invalid metrics-port 5002: its ports 5002-5004 include port 5003');
  expect(metricsPortConflict(parseSettings({}))).toBeNull();
});

test('the registry config gets a loopback debug server with Prometheus metrics only when asked', async () => {
  const input = { role: 'public' as const, dataDir: '/d', listen: ':5000', hostUrl: 'https://h:5000', httpSecret: 's', logLevel: 'info' };
  const plain = YAML.parse(await renderRegistryConfig(input));
  expect(plain.http.debug).toBeUndefined();
  const observed = YAML.parse(await renderRegistryConfig({ ...input, metricsListen: '127.0.0.1:5002' }));
  expect(observed.http.debug).toEqual({ addr: '127.0.0.1:5002', prometheus: { enabled: true, path: '/metrics' } });
  // With a shared S3 store the debug server stays on for /debug/health, without metrics.
  const health = YAML.parse(await renderRegistryConfig({ ...input, healthListen: '127.0.0.1:5002' }));
  expect(health.http.debug).toEqual({ addr: '127.0.0.1:5002' });
  expect(health.health).toEqual({ storagedriver: { enabled: true, interval: '10s', threshold: 3 } });
});

test('the exporter unit runs without capabilities on a read-only system, naming its script version', () => {
  const unit = renderExporterUnit({ node: '/charm/runtime/node', script: '/charm/dist/exporter.mjs', scriptHash: 'ab12', listen: '127.0.0.1:5004', root: '/' });
  expect(unit).toContain('ExecStart=/charm/runtime/node /charm/dist/exporter.mjs --listen 127.0.0.1:5004 --root /\n');
  expect(unit).toMatch(/^# exporter.mjs sha256 ab12$/m);
  expect(unit).toMatch(/^CapabilityBoundingSet=$/m);
  expect(unit).toMatch(/^ProtectSystem=strict$/m);
});
