// The cos_agent library's CosAgentProviderUnitData (charms/grafana_agent/v0/cos_agent.py,
// LIBPATCH 23+) ported field for field, and a Python check with the real decoders: the requirer
// side does `CosAgentProviderUnitData(**json.loads(raw))` and `json.loads(LZMABase64.decompress(d))`.
import { execFileSync } from 'node:child_process';

type Check = (value: unknown) => boolean;
const isDict: Check = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const listOf = (item: Check): Check => (v) => Array.isArray(v) && v.every(item);
const isStr: Check = (v) => typeof v === 'string';
const optional = (check: Check): Check => (v) => v === undefined || v === null || check(v);

// pydantic: metrics_alert_rules: dict; log_alert_rules: dict; dashboards: List[str];
// subordinate: Optional[bool] = None; metrics_scrape_jobs: List[Dict]; log_slots: List[str];
// include_log_files: Optional[List[str]] = None; tracing_protocols: Optional[List[str]] = None.
const FIELDS: Record<string, { required: boolean; check: Check }> = {
  metrics_alert_rules: { required: true, check: isDict },
  log_alert_rules: { required: true, check: isDict },
  dashboards: { required: true, check: listOf(isStr) },
  subordinate: { required: false, check: optional((v) => typeof v === 'boolean') },
  metrics_scrape_jobs: { required: true, check: listOf(isDict) },
  log_slots: { required: true, check: listOf(isStr) },
  include_log_files: { required: false, check: optional(listOf(isStr)) },
  tracing_protocols: { required: false, check: optional(listOf(isStr)) },
};

/** Problems the library's model would raise for the databag value `raw` (empty: valid). */
export function providerUnitDataProblems(raw: string): string[] {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    return [`not JSON: ${(err as Error).message}`];
  }
  if (!isDict(data)) return ['not a JSON object'];
  const problems: string[] = [];
  for (const [name, field] of Object.entries(FIELDS)) {
    const value = (data as Record<string, unknown>)[name];
    if (value === undefined) {
      if (field.required) problems.push(`${name}: field required`);
    } else if (!field.check(value)) problems.push(`${name}: wrong type (${JSON.stringify(value).slice(0, 80)})`);
  }
  return problems;
}

const PYTHON = String.raw`
import base64, hashlib, json, lzma, sys
raw = sys.stdin.read()
data = json.loads(raw)
try:
    from typing import Dict, List, Optional
    import pydantic
except ImportError:
    pydantic = None
validated = False
if pydantic is not None:
    class CosAgentProviderUnitData(pydantic.BaseModel):
        metrics_alert_rules: dict
        log_alert_rules: dict
        dashboards: List[str]
        subordinate: Optional[bool] = None
        metrics_scrape_jobs: List[Dict]
        log_slots: List[str]
        include_log_files: Optional[List[str]] = None
        tracing_protocols: Optional[List[str]] = None
    CosAgentProviderUnitData(**data)
    validated = True
dashboards = [json.loads(lzma.decompress(base64.b64decode(d.encode("utf-8"))).decode()) for d in data["dashboards"]]
uid = hashlib.shake_256("offline-registry-src/grafana_dashboards/offline-registry.json".encode("utf-8")).hexdigest(20)
print(json.dumps({"validated_by_pydantic": validated, "dashboards": dashboards, "expected_uid": uid}))
`;

/** Runs python3: pydantic validation (when installed), the dashboards decoded as LZMABase64.decompress does. */
export function pythonDecode(raw: string): { validated_by_pydantic: boolean; dashboards: Array<Record<string, any>>; expected_uid: string } {
  return JSON.parse(execFileSync('python3', ['-c', PYTHON], { input: raw, encoding: 'utf8', timeout: 30000 }));
}
