// Several units of one application, each its own Simulator (own root, own registry), sharing what
// Juju shares between them: the peer relation (each unit's bag, the app bag the leader writes),
// the application-owned secrets, and who the leader is. After a hook, every unit whose view of the
// peer relation changed gets `<peer>-relation-changed` queued, as Juju does: with
// JUJU_REMOTE_UNIT for a unit bag change, and none for an app bag change. `settle()` delivers them.
import type { RunOptions, RunOutput, Event, Simulator } from './simulator.js';
import type { Bag, SecretState, State } from './state.js';

export interface ModelOptions {
  app: string;
  peerEndpoint: string;
  /** Relation id of the peer relation (default 1). */
  peerRelationId?: number;
}

interface UnitSlot {
  sim: Simulator;
  state: State;
}

export class Model {
  private readonly units = new Map<string, UnitSlot>();
  private appBag: Bag = {};
  private appSecrets: SecretState[] = [];
  private leaderUnit: string | null = null;
  /** Pending relation-changed deliveries: [unit, remote unit or null for the app bag]. */
  private readonly queue: Array<[string, string | null]> = [];
  private readonly relationId: number;

  constructor(private readonly opts: ModelOptions) {
    this.relationId = opts.peerRelationId ?? 1;
  }

  get leader(): string | null {
    return this.leaderUnit;
  }

  unitNames(): string[] {
    return [...this.units.keys()];
  }

  sim(unit: string): Simulator {
    return this.slot(unit).sim;
  }

  /** The unit's state as its last hook left it (with the model's shared parts filled in). */
  state(unit: string): State {
    return this.view(unit);
  }

  /** The peer relation's bag of `unit` as last written. */
  unitBag(unit: string): Bag {
    return { ...(this.slot(unit).state.relations?.find((r) => r.id === this.relationId)?.localUnitData ?? {}) };
  }

  get applicationBag(): Bag {
    return { ...this.appBag };
  }

  get secrets(): SecretState[] {
    return structuredClone(this.appSecrets);
  }

  /**
   * Adds a unit (not yet in the peer relation: its `<peer>-relation-joined` hooks come with
   * `join`). The first unit added with `leader: true` in its state is the leader.
   */
  add(unit: string, sim: Simulator, state: State): void {
    if (this.units.has(unit)) throw new Error(`${unit} is already in the model`);
    if (!unit.startsWith(`${this.opts.app}/`)) throw new Error(`${unit} is not a unit of ${this.opts.app}`);
    if (state.leader) {
      if (this.leaderUnit) throw new Error(`${this.leaderUnit} is already the leader`);
      this.leaderUnit = unit;
    }
    this.units.set(unit, { sim, state: { ...state, unitName: unit } });
  }

  /** Makes `unit` the leader (the old one loses it) and runs leader-elected on it. */
  async elect(unit: string): Promise<RunOutput> {
    this.slot(unit);
    this.leaderUnit = unit;
    return this.run(unit, 'leader-elected');
  }

  /**
   * The peer relation as Juju shows it to `unit`: every other unit of the model that is in the
   * relation, their bags, the app bag; the app secrets; the leader flag.
   */
  private view(unit: string): State {
    const { state } = this.slot(unit);
    const others = this.unitNames().filter((u) => u !== unit && this.inRelation(u));
    const own = state.relations?.find((r) => r.id === this.relationId);
    const relations = (state.relations ?? []).filter((r) => r.id !== this.relationId);
    if (this.inRelation(unit)) {
      relations.push({
        id: this.relationId,
        endpoint: this.opts.peerEndpoint,
        remoteApp: this.opts.app,
        remoteUnits: others,
        localUnitData: own?.localUnitData ?? {},
        localAppData: { ...this.appBag },
        remoteUnitsData: Object.fromEntries(others.map((u) => [u, this.unitBag(u)])),
        remoteAppData: {},
      });
    }
    const ownSecrets = (state.secrets ?? []).filter((s) => s.owner !== 'application');
    return { ...state, leader: this.leaderUnit === unit, relations, secrets: [...ownSecrets, ...structuredClone(this.appSecrets)] };
  }

  private readonly joined = new Set<string>();
  private inRelation(unit: string): boolean {
    return this.joined.has(unit);
  }

  /** Runs one hook or action on `unit` and queues what it changed for the other units. */
  async run(unit: string, event: Event, opts: RunOptions = {}): Promise<RunOutput> {
    const before = { bag: this.unitBag(unit), app: { ...this.appBag } };
    const isPeerHook = typeof event === 'string' && event.startsWith(`${this.opts.peerEndpoint}-relation-`);
    const out = await this.slot(unit).sim.run(event, this.view(unit), isPeerHook ? { relation: this.relationId, ...opts } : opts);
    if (out.exitCode !== 0) throw new Error(`${unit} ${typeof event === 'string' ? event : event.action} failed (exit ${out.exitCode}):\n${out.stderr}`);
    this.slot(unit).state = out;
    const rel = out.relations.find((r) => r.id === this.relationId);
    if (rel && this.leaderUnit === unit) this.appBag = { ...rel.localAppData };
    // Application-owned secrets belong to the app: every unit sees the same ones.
    const appSecrets = out.secrets.filter((s) => s.owner === 'application');
    if (this.leaderUnit === unit) this.appSecrets = structuredClone(appSecrets);
    const others = this.unitNames().filter((u) => u !== unit && this.inRelation(u));
    if (rel && JSON.stringify(rel.localUnitData) !== JSON.stringify(before.bag)) for (const u of others) this.enqueue(u, unit);
    if (JSON.stringify(this.appBag) !== JSON.stringify(before.app)) for (const u of others) this.enqueue(u, null);
    return out;
  }

  /** Runs `events` on `unit` one after the other, as `run` does each; returns the last output. */
  async runAll(unit: string, events: Event[]): Promise<RunOutput> {
    let out: RunOutput | undefined;
    for (const event of events) out = await this.run(unit, event);
    return out!;
  }

  private enqueue(unit: string, remote: string | null): void {
    if (!this.queue.some(([u, r]) => u === unit && r === remote)) this.queue.push([unit, remote]);
  }

  /**
   * `unit` joins the peer relation: created on it, then joined/changed on it for every unit
   * already there and on every unit already there for it (Juju's order per pair).
   */
  async join(unit: string): Promise<void> {
    const present = this.unitNames().filter((u) => u !== unit && this.inRelation(u));
    this.joined.add(unit);
    await this.run(unit, `${this.opts.peerEndpoint}-relation-created`);
    for (const other of present) {
      await this.run(unit, `${this.opts.peerEndpoint}-relation-joined`, { remoteUnit: other });
      await this.run(other, `${this.opts.peerEndpoint}-relation-joined`, { remoteUnit: unit });
      this.enqueue(unit, other);
      this.enqueue(other, unit);
    }
  }

  /** Delivers queued relation-changed hooks until none is left; throws after `max` deliveries. */
  async settle(max = 40): Promise<number> {
    let delivered = 0;
    while (this.queue.length) {
      if (++delivered > max) throw new Error(`peer data did not settle after ${max} relation-changed hooks (still queued: ${JSON.stringify(this.queue)})`);
      const [unit, remote] = this.queue.shift()!;
      await this.run(unit, `${this.opts.peerEndpoint}-relation-changed`, { remoteUnit: remote });
    }
    return delivered;
  }

  private slot(unit: string): UnitSlot {
    const s = this.units.get(unit);
    if (!s) throw new Error(`${unit} is not in the model`);
    return s;
  }
}
