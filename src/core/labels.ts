import { JobhubError } from './errors.js';
import type { Labels } from './types.js';

/** `k=v` pairs (flags, query parameters) into labels; `what` names the source in errors. */
export function parseLabelPairs(pairs: readonly string[] = [], what = 'label'): Labels {
  const labels: Labels = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new JobhubError('bad_request', `${what} "${pair}" is not key=value`);
    labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return labels;
}
