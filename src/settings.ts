// The charm's config options, parsed and validated. Pure: an invalid value becomes a message naming
// the option and what it accepts, which the reconcile turns into a blocked status.
import { validatePassword, validateUsername } from './auth/credentials.js';
import type { ConfigValue } from './juju/index.js';
import { type StorageSettings, StorageSettingsError, parseStorageSettings } from './storage/index.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LayerCompression = 'none' | 'gzip';

export interface Settings {
  port: number;
  writerPort: number;
  /** First of three loopback ports for metrics (see metricsPorts), served while cos-agent is related. */
  metricsPort: number;
  bindAddress: string;
  httpHost: string;
  logLevel: LogLevel;
  autoLoad: boolean;
  layerCompression: LayerCompression;
  tls: boolean;
  tlsSans: string;
  /** Operator-supplied TLS material (base64 PEM), all empty when the charm makes its own CA. */
  tlsCert: string;
  tlsKey: string;
  tlsCa: string;
  auth: boolean;
  authUser: string;
  /** Empty: the leader generates one and keeps it in a Juju secret. */
  authPassword: string;
  /** storage-backend and its s3-* options. */
  storage: StorageSettings;
}

export class SettingsError extends Error {
  constructor(readonly option: string, message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

function port(config: Record<string, ConfigValue>, option: string, fallback: number): number {
  const value = config[option] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new SettingsError(option, `invalid ${option} ${JSON.stringify(value)}: expected a TCP port from 1 to 65535`);
  }
  return value;
}

function oneOf<T extends string>(config: Record<string, ConfigValue>, option: string, allowed: readonly T[], fallback: T): T {
  const value = String(config[option] ?? fallback).trim().toLowerCase();
  if (!(allowed as readonly string[]).includes(value)) {
    throw new SettingsError(option, `invalid ${option} ${JSON.stringify(config[option])}: expected one of ${allowed.join(', ')}`);
  }
  return value as T;
}

// A host name or IP literal, optionally bracketed IPv6; no scheme, path or port.
const HOST_PATTERN = /^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F:]*:[0-9a-fA-F:.]+|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$/;

function host(config: Record<string, ConfigValue>, option: string): string {
  const value = String(config[option] ?? '').trim();
  if (value !== '' && !HOST_PATTERN.test(value)) {
    throw new SettingsError(option, `invalid ${option} ${JSON.stringify(value)}: expected a host name or IP address, without scheme or port`);
  }
  return value;
}

function storage(config: Record<string, ConfigValue>): StorageSettings {
  try {
    return parseStorageSettings(config);
  } catch (err) {
    if (err instanceof StorageSettingsError) throw new SettingsError(err.option, err.message);
    throw err;
  }
}

export function parseSettings(config: Record<string, ConfigValue>): Settings {
  const settings: Settings = {
    port: port(config, 'port', 5000),
    writerPort: port(config, 'writer-port', 5001),
    metricsPort: port(config, 'metrics-port', 5002),
    bindAddress: host(config, 'bind-address'),
    httpHost: host(config, 'http-host'),
    logLevel: oneOf(config, 'log-level', ['error', 'warn', 'info', 'debug'] as const, 'info'),
    autoLoad: config['auto-load'] !== false,
    layerCompression: oneOf(config, 'layer-compression', ['none', 'gzip'] as const, 'none'),
    tls: config.tls !== false,
    tlsSans: String(config['tls-sans'] ?? '').trim(),
    tlsCert: String(config['tls-cert'] ?? '').trim(),
    tlsKey: String(config['tls-key'] ?? '').trim(),
    tlsCa: String(config['tls-ca'] ?? '').trim(),
    auth: config.auth === true,
    authUser: String(config['auth-basic-user'] ?? 'offline-registry').trim(),
    authPassword: String(config['auth-basic-password'] ?? ''),
    storage: storage(config),
  };
  if (settings.tlsCert && !settings.tlsKey) throw new SettingsError('tls-key', 'tls-cert is set but tls-key is empty: give the private key of tls-cert (base64 PEM)');
  if (settings.tlsKey && !settings.tlsCert) throw new SettingsError('tls-cert', 'tls-key is set but tls-cert is empty: give the certificate (base64 PEM)');
  if (settings.auth) {
    const userProblem = validateUsername(settings.authUser);
    if (userProblem) throw new SettingsError('auth-basic-user', userProblem);
    // Never echo the password itself: the message only says what is wrong with it.
    const passwordProblem = settings.authPassword === '' ? null : validatePassword(settings.authPassword);
    if (passwordProblem) throw new SettingsError('auth-basic-password', passwordProblem);
  }
  if (settings.writerPort === settings.port) {
    throw new SettingsError('writer-port', `invalid writer-port ${settings.writerPort}: it must differ from port`);
  }
  checkMetricsPorts(settings);
  return settings;
}

/** The loopback ports metrics are served on: each registry instance's debug server, and the charm's own facts. */
export function metricsPorts(settings: Pick<Settings, 'metricsPort'>): { public: number; writer: number; charm: number } {
  return { public: settings.metricsPort, writer: settings.metricsPort + 1, charm: settings.metricsPort + 2 };
}

function checkMetricsPorts(settings: Settings): void {
  const { public: first, charm: last } = metricsPorts(settings);
  if (last > 65535) throw new SettingsError('metrics-port', `invalid metrics-port ${first}: it uses three ports (${first}-${last}), the last must be at most 65535`);
}

/**
 * Why metrics-port cannot be used next to port and writer-port, or null. Checked only while
 * metrics are served (cos-agent related): a unit without COS never uses those ports.
 */
export function metricsPortConflict(settings: Settings): string | null {
  const { public: first, charm: last } = metricsPorts(settings);
  for (const [option, value] of [['port', settings.port], ['writer-port', settings.writerPort]] as const) {
    if (value >= first && value <= last) return `invalid metrics-port ${first}: its ports ${first}-${last} include ${option} ${value}`;
  }
  return null;
}
