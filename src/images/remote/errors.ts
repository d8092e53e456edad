// Errors from the registry, carrying the HTTP status and the distribution error code when known.

export class RegistryError extends Error {
  status?: number;
  /** Distribution error code from the JSON `errors` body, e.g. DIGEST_INVALID, MANIFEST_BLOB_UNKNOWN. */
  code?: string;

  constructor(message: string, opts: { status?: number; code?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RegistryError';
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.code !== undefined) this.code = opts.code;
  }
}

/** The streamed blob did not match its declared digest or size; retrying the same source cannot help. */
export class BlobVerificationError extends RegistryError {
  constructor(message: string) {
    super(message, { code: 'BLOB_VERIFICATION_FAILED' });
    this.name = 'BlobVerificationError';
  }
}

export interface DistributionError {
  code: string;
  message: string;
  detail?: unknown;
}

/** Parses the `{"errors":[{code,message,detail}]}` body of a distribution registry; [] when it is not one. */
export function parseDistributionErrors(body: Buffer | string | undefined): DistributionError[] {
  if (!body || body.length === 0) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString());
  } catch {
    return [];
  }
  const list = (parsed as { errors?: unknown })?.errors;
  if (!Array.isArray(list)) return [];
  return list
    .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null && typeof e.code === 'string')
    .map((e) => ({ code: e.code as string, message: typeof e.message === 'string' ? e.message : '', detail: e.detail }));
}

function describeDetail(detail: unknown): string {
  if (detail === undefined || detail === null || detail === '') return '';
  if (typeof detail === 'string') return detail;
  if (typeof detail === 'object') {
    // Registries put the offending digest or name in detail; show the values, they are what the operator needs.
    const values = Object.values(detail as Record<string, unknown>).filter((v) => typeof v === 'string' || typeof v === 'number');
    if (values.length > 0) return values.join(', ');
  }
  return JSON.stringify(detail);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * Builds the error for an unexpected HTTP answer, e.g.
 * `PUT manifest cdk/pause:3.9 refused by registry: MANIFEST_BLOB_UNKNOWN blob unknown to registry (sha256:...)`.
 */
export function httpError(what: string, status: number, body?: Buffer | string): RegistryError {
  const errors = parseDistributionErrors(body);
  let reason: string;
  if (errors.length > 0) {
    reason = errors
      .map((e) => {
        const detail = describeDetail(e.detail);
        return [e.code, e.message].filter(Boolean).join(' ') + (detail ? ` (${detail})` : '');
      })
      .join('; ');
  } else {
    const text = body ? body.toString().trim().slice(0, 200) : '';
    reason = `HTTP ${status} ${STATUS_TEXT[status] ?? ''}`.trim() + (text ? `: ${text}` : '');
  }
  let hint = '';
  if (status === 401) hint = ' (HTTP 401: the registry wants credentials; set or fix the username and password)';
  else if (status === 403) hint = ' (HTTP 403: these credentials may not do this)';
  const verb = status >= 500 ? 'failed at registry' : 'refused by registry';
  return new RegistryError(`${what} ${verb}: ${reason}${hint}`, { status, code: errors[0]?.code });
}
