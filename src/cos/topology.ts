// Juju topology as cos-lib's JujuTopology renders it: the labels every alert rule carries and the
// matchers injected into its expression, so rules only ever evaluate this application's series.
export interface Topology {
  model: string;
  modelUuid: string;
  application: string;
  unit: string;
  charmName: string;
}

/** JujuTopology.identifier: `<model>_<uuid[:8]>_<application>`. */
export function topologyIdentifier(t: Topology): string {
  return [t.model, t.modelUuid.slice(0, 8), t.application].join('_').replace(/\//g, '_');
}

/** JujuTopology.label_matcher_dict: the labels added to each rule (never the unit). */
export function ruleLabels(t: Topology): Record<string, string> {
  const labels: Record<string, string> = { juju_model: t.model, juju_model_uuid: t.modelUuid, juju_application: t.application, juju_charm: t.charmName };
  return Object.fromEntries(Object.entries(labels).filter(([, v]) => v));
}

/** The matchers cos-tool injects into each expression: model, model UUID and application. */
export function expressionMatchers(t: Topology): string {
  const quote = (v: string) => JSON.stringify(v);
  return [`juju_model=${quote(t.model)}`, `juju_model_uuid=${quote(t.modelUuid)}`, `juju_application=${quote(t.application)}`].join(',');
}
