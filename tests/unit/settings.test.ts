import { SettingsError, parseSettings } from '../../src/settings.js';

const defaults = { port: 5000, 'writer-port': 5001, 'bind-address': '', 'http-host': '', 'log-level': 'info', 'auto-load': true, 'layer-compression': 'none' };

test('defaults parse into settings', () => {
  expect(parseSettings(defaults)).toEqual({
    port: 5000,
    writerPort: 5001,
    metricsPort: 5002,
    bindAddress: '',
    httpHost: '',
    logLevel: 'info',
    autoLoad: true,
    layerCompression: 'none',
    tls: true,
    tlsSans: '',
    tlsCert: '',
    tlsKey: '',
    tlsCa: '',
    auth: false,
    authUser: 'offline-registry',
    authPassword: '',
    storage: { backend: 'filesystem' },
  });
});

test.each([
  ['port', 0, 'port'],
  ['port', 70000, 'port'],
  ['port', 5001, 'writer-port'],
  ['writer-port', -1, 'writer-port'],
  ['log-level', 'loud', 'log-level'],
  ['layer-compression', 'zstd', 'layer-compression'],
  ['http-host', 'https://reg.example:5000', 'http-host'],
  ['bind-address', '10.0.0.1:5000', 'bind-address'],
  ['tls-cert', 'Zm9v', 'tls-key'],
])('%s=%p is refused naming %s', (option, value, named) => {
  let error: unknown;
  try {
    parseSettings({ ...defaults, [option]: value });
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(SettingsError);
  expect((error as SettingsError).option).toBe(named);
  expect((error as Error).message).toContain(named);
});

test('host names and IP literals are accepted for http-host', () => {
  for (const host of ['registry.internal', '10.0.0.7', 'fd00::7', '[fd00::7]', 'reg-1']) {
    expect(parseSettings({ ...defaults, 'http-host': host }).httpHost).toBe(host);
  }
});
