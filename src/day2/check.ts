// check-images: compare a release's image list (Charmed Kubernetes container-images/vX.Y.Z.txt) with what
// this registry serves for the hosts it mirrors.
import { formatReference, type ImageReference } from '../images/reference.js';
import { findServed, hostSet, indexServed, otherTags, tryParse, type Served } from './served.js';

/**
 * References from an image list: one per line or several separated by spaces, tabs or commas;
 * blank lines and `#` comments (whole line or trailing) ignored; duplicates kept once, in order.
 * Throws naming the line of every entry that is not an image reference.
 */
export function parseImageList(text: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const bad: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const content = line.replace(/(^|\s)#.*$/, '');
    for (const word of content.split(/[\s,]+/).filter(Boolean)) {
      const { error } = tryParse(word);
      if (error) bad.push(`line ${i + 1}: ${error}`);
      else if (!seen.has(word)) {
        seen.add(word);
        out.push(word);
      }
    }
  });
  if (bad.length) throw new Error(`the image list has entries that are not image references (fix or remove them):\n  ${bad.join('\n  ')}`);
  return out;
}

export interface PresentImage {
  reference: string;
  path: string;
  digest?: string;
}
export interface MissingImage {
  reference: string;
  path: string;
  reason: string;
}
export interface OtherTagImage {
  reference: string;
  available: string[];
}
export interface CheckResult {
  present: PresentImage[];
  missing: MissingImage[];
  otherTag: OtherTagImage[];
}

function pathOf(ref: ImageReference): string {
  return ref.digest ? `${ref.repository}@${ref.digest}` : `${ref.repository}:${ref.tag}`;
}

/**
 * present: its path:tag (or digest) is served and its host is mirrored (rocks.canonical.com and
 * rocks.canonical.com:443 count as one). otherTag: host mirrored, tag absent, same repository served under
 * other tags. missing: everything else, with the reason.
 */
export function checkImages(refs: readonly string[], served: Served, mirroredHosts: readonly string[]): CheckResult {
  if (!refs.length) {
    throw new Error('the image list is empty: give the release list (e.g. container-images/v1.31.0.txt of the Charmed Kubernetes bundle) with one reference per line');
  }
  const index = indexServed(served);
  const mirrors = hostSet(mirroredHosts);
  const result: CheckResult = { present: [], missing: [], otherTag: [] };
  for (const reference of refs) {
    const { ref, error } = tryParse(reference);
    if (!ref) {
      result.missing.push({ reference, path: '', reason: error! });
      continue;
    }
    const path = pathOf(ref);
    if (!mirrors.has(ref.host)) {
      const list = mirrors.list.length ? mirrors.list.join(', ') : 'none';
      result.missing.push({ reference, path, reason: `host ${ref.host} is not mirrored by this registry (mirrored: ${list}); add it to the mirrored hosts` });
      continue;
    }
    const hit = findServed(index, ref);
    if (hit.found) {
      result.present.push({ reference, path, digest: hit.image?.digest ?? ref.digest });
      continue;
    }
    const available = ref.digest ? [] : otherTags(index, ref);
    if (available.length) result.otherTag.push({ reference, available });
    else result.missing.push({ reference, path, reason: `${path} is not in the registry; load an archive holding ${formatReference(ref)}` });
  }
  return result;
}
