// Day-2 operations for the actions list-images, remove-images, garbage-collect, check-images and
// audit-cluster. No hook tools here: inputs in, results out, progress through an optional `log`.
export { formatBytes } from '../format.js';
export { listImages, formatTable, compileFilter, type ListClient, type ListOptions } from './list.js';
export { planRemoval, removeImages, RemovalRefusedError, type RemovalItem, type RemovalPlan, type RemovalResult, type PlanOptions, type RemoveOptions } from './remove.js';
export { garbageCollect, blobUsage, type GcOptions, type GcResult, type Runner, type RunResult } from './gc.js';
export { parseImageList, checkImages, type CheckResult, type PresentImage, type MissingImage, type OtherTagImage } from './check.js';
export { auditCluster, auditWorkloads, fetchWorkloads, type AuditOptions, type AuditResult, type AuditedImage, type PullingContainer, type Workloads } from './audit.js';
export { canonicalHost, sameHost, type Catalog, type CatalogEntry, type ImageRow, type Served } from './served.js';
