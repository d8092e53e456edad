// The model state a simulated hook runs against, in the style of ops Scenario: plain data in,
// plain data out. Every field is optional on input; normalizeState fills Juju's defaults, and the
// normalized output of one run is valid input to the next.

export type ConfigValue = string | number | boolean;
export type Bag = Record<string, string>;

export interface RelationState {
  /** Relation id: the N of `docker-registry:N`. */
  id: number;
  /** This charm's endpoint name (metadata.yaml provides/requires/peers). */
  endpoint: string;
  remoteApp: string;
  /** Remote units currently in the relation (default: `<remoteApp>/0`). */
  remoteUnits?: string[];
  localUnitData?: Bag;
  localAppData?: Bag;
  /** Remote unit name -> its bag. */
  remoteUnitsData?: Record<string, Bag>;
  remoteAppData?: Bag;
}

export interface SecretState {
  /** The 20-character id (the part after `secret:`); a full URI is accepted and shortened. */
  id: string;
  /** `application`/`unit`: owned by this charm; `remote`: owned by another app, consumed here. */
  owner: 'application' | 'unit' | 'remote';
  label?: string;
  description?: string;
  /** Content of each revision, oldest first: revision N is revisions[N-1]. */
  revisions: Bag[];
  /** For consumed secrets: the revision this unit tracks (default: the latest). */
  trackedRevision?: number;
  grants?: Array<{ relationId: number; unit?: string }>;
  expire?: string;
  rotate?: string;
}

export interface Addresses {
  /** Ingress (and private) address; default 127.0.0.1. */
  ingress?: string;
  /** Bind address; default the ingress address. */
  bind?: string;
  /** CIDR of the bind address; default its /24. */
  cidr?: string;
  egressSubnets?: string[];
  public?: string;
  interfaceName?: string;
  macAddress?: string;
}

export interface StatusValue {
  status: string;
  message: string;
}

export interface StatusEntry extends StatusValue {
  target: 'unit' | 'application';
}

export interface LogEntry {
  level: string;
  message: string;
}

export interface State {
  unitName?: string;
  leader?: boolean;
  /** User-set option values (defaults come from config.yaml). */
  config?: Record<string, ConfigValue>;
  /** Resource name -> path of a file the test made. */
  resources?: Record<string, string>;
  relations?: RelationState[];
  addresses?: Addresses;
  secrets?: SecretState[];
  /** Unit-local key/value store of state-get/state-set. */
  unitState?: Bag;
  /** Opened ports in Juju's text form: `5000/tcp`, `5000-5010/udp`, `icmp`. */
  openedPorts?: string[];
  /** leader-get/leader-set settings. */
  leaderData?: Bag;
  apt?: { available?: string[]; installed?: string[] };
  model?: { name?: string; uuid?: string };
  machineId?: string;
  availabilityZone?: string;
  // What hooks produced (cumulative over chained runs).
  unitStatus?: StatusValue;
  appStatus?: StatusValue;
  statusHistory?: StatusEntry[];
  workloadVersion?: string;
  logs?: LogEntry[];
  systemctlCalls?: string[][];
  aptCalls?: string[][];
}

export interface NormalizedRelation extends Required<RelationState> {}

export interface NormalizedState extends Required<Omit<State, 'relations' | 'addresses' | 'apt' | 'model' | 'secrets'>> {
  relations: NormalizedRelation[];
  addresses: Addresses & { ingress: string };
  apt: { available: string[]; installed: string[] };
  model: { name: string; uuid: string };
  secrets: Array<SecretState & { grants: Array<{ relationId: number; unit?: string }> }>;
}

export const DEFAULT_UNIT = 'offline-registry/0';
export const DEFAULT_MODEL_UUID = 'd2f6c5f0-5b0e-4c1e-8a35-3f1e6d1b2a90';

function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** The secret id inside `secret:<id>` or `secret://<model-uuid>/<id>`. */
export function secretId(uriOrId: string): string {
  const m = /^secret:(?:\/\/[^/]+\/)?(.+)$/.exec(uriOrId);
  return m ? m[1] : uriOrId;
}

/** A full copy of state with every default filled in. Does not validate against the charm. */
export function normalizeState(state: State = {}): NormalizedState {
  const s = clone(state);
  const unitName = s.unitName ?? DEFAULT_UNIT;
  if (!/^[a-z][a-z0-9-]*\/[0-9]+$/.test(unitName)) {
    throw new Error(`state.unitName "${unitName}" is not a Juju unit name like offline-registry/0`);
  }
  const relations = (s.relations ?? []).map((r): NormalizedRelation => {
    if (!Number.isInteger(r.id) || r.id < 0) throw new Error(`relation id ${String(r.id)} must be a non-negative integer`);
    const remoteUnits = r.remoteUnits ?? [`${r.remoteApp}/0`];
    for (const u of remoteUnits) {
      if (!u.startsWith(`${r.remoteApp}/`)) throw new Error(`remote unit "${u}" of relation ${r.endpoint}:${r.id} must belong to ${r.remoteApp}`);
    }
    const remoteUnitsData: Record<string, Bag> = { ...(r.remoteUnitsData ?? {}) };
    for (const u of remoteUnits) remoteUnitsData[u] ??= {};
    return {
      id: r.id,
      endpoint: r.endpoint,
      remoteApp: r.remoteApp,
      remoteUnits,
      localUnitData: stringBag(r.localUnitData, `relation ${r.id} localUnitData`),
      localAppData: stringBag(r.localAppData, `relation ${r.id} localAppData`),
      remoteUnitsData: Object.fromEntries(Object.entries(remoteUnitsData).map(([u, b]) => [u, stringBag(b, `relation ${r.id} data of ${u}`)])),
      remoteAppData: stringBag(r.remoteAppData, `relation ${r.id} remoteAppData`),
    };
  });
  const ids = new Set<number>();
  for (const r of relations) {
    if (ids.has(r.id)) throw new Error(`two relations share id ${r.id}`);
    ids.add(r.id);
  }
  return {
    unitName,
    leader: s.leader ?? false,
    config: s.config ?? {},
    resources: s.resources ?? {},
    relations,
    addresses: { ...(s.addresses ?? {}), ingress: s.addresses?.ingress ?? '127.0.0.1' },
    secrets: (s.secrets ?? []).map((x) => ({ ...x, id: secretId(x.id), grants: x.grants ?? [] })),
    unitState: stringBag(s.unitState, 'unitState'),
    openedPorts: s.openedPorts ?? [],
    leaderData: stringBag(s.leaderData, 'leaderData'),
    apt: { available: s.apt?.available ?? [], installed: s.apt?.installed ?? [] },
    model: { name: s.model?.name ?? 'test-model', uuid: s.model?.uuid ?? DEFAULT_MODEL_UUID },
    machineId: s.machineId ?? '0',
    availabilityZone: s.availabilityZone ?? 'zone-a',
    unitStatus: s.unitStatus ?? { status: 'unknown', message: '' },
    appStatus: s.appStatus ?? { status: 'unknown', message: '' },
    statusHistory: s.statusHistory ?? [],
    workloadVersion: s.workloadVersion ?? '',
    logs: s.logs ?? [],
    systemctlCalls: s.systemctlCalls ?? [],
    aptCalls: s.aptCalls ?? [],
  };
}

function stringBag(bag: Record<string, unknown> | undefined, what: string): Bag {
  const out: Bag = {};
  for (const [k, v] of Object.entries(bag ?? {})) {
    if (typeof v !== 'string') throw new Error(`${what}: value of "${k}" must be a string (Juju stores relation and state data as strings)`);
    out[k] = v;
  }
  return out;
}
