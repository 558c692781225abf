/**
 * ASCOB's job spec (seed 002: description, labels, parameters, locks [{key}], submitter,
 * manualStart) as a jobhub job spec. A portal may send a full jobhub spec under `jobSpec.jobhub`
 * (an object, or YAML/JSON text); the ASCOB fields are laid over it: its description, its labels
 * merged in, its locks added (by `key`), its parameters given as the spec's parameter values (one
 * the spec does not declare is declared as a string), so tasks see them as `{{.Params.x}}` and
 * `JOBHUB_PARAM_X`.
 *
 * Without `jobhub`, ASCOB chooses a backend by labels: a backend configured on the server (see
 * src/backends/) runs the job with its parameters; a backend id that is not configured is refused
 * at submission with a 400 naming the label. The one backend every ASCOB server has,
 * `dummyBackend` (it runs nothing, succeeds, and says "Dummy output"), is a one-task job here. A
 * run with neither a spec nor a backend label is refused with a 400 that says what to send.
 */
import { JobhubError, SpecInvalidError } from '../../core/errors.js';
import { PARAM_NAME } from '../../spec/params.js';
import { parseSource } from '../../spec/source.js';

/** The label ASCOB chooses a backend by. */
export const BACKEND_LABEL = '_execution_backend_id';
/** ASCOB's built-in backend (DummyBackend.java). */
export const DUMMY_BACKEND = 'dummyBackend';

export interface AscobJobSpec {
  description?: string;
  submitter?: string;
  labels?: Record<string, string>;
  parameters?: Record<string, string | number | boolean>;
  locks?: Array<{ key: string }>;
  manualStart?: boolean;
  /** Accepted for ASCOB clients that send it; jobhub has no runtime variables. */
  runtimeVariables?: boolean;
  /** A jobhub job spec: an object, or its YAML/JSON text. */
  jobhub?: string | Record<string, unknown>;
}

/** What a run is submitted as: the jobhub spec text and its parameter values. */
export interface AscobJob {
  text: string;
  params: Record<string, string | number | boolean>;
}

/** The job ASCOB's dummy backend stands for. */
const DUMMY_SPEC: Record<string, unknown> = {
  name: 'ascob-dummy',
  stages: [{ name: 'run', tasks: [{ name: 'dummy', shell: { command: 'echo "Dummy output"' } }] }],
};

const bad = (path: string, message: string) =>
  new JobhubError('bad_request', `${path} ${message}`, [{ path, message }]);

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The jobhub spec given in the run, as an object. */
function givenSpec(jobhub: string | Record<string, unknown>): Record<string, unknown> {
  if (typeof jobhub !== 'string') return jobhub;
  const parsed = parseSource(jobhub);
  if (parsed.syntaxErrors.length > 0) throw new SpecInvalidError(parsed.syntaxErrors, 'jobSpec.jobhub');
  if (!isObject(parsed.value)) throw bad('body.jobSpec.jobhub', 'must be a jobhub job spec (a mapping)');
  return parsed.value;
}

/** The spec of a run without one: what its backend label stands for, or a 400 saying what to send. */
function backendSpec(labels: Record<string, string>): Record<string, unknown> {
  const backend = labels[BACKEND_LABEL];
  if (backend === DUMMY_BACKEND) return structuredClone(DUMMY_SPEC);
  // An external backend runs the whole job: no stages (its label, merged in below, picks it).
  if (backend !== undefined && backend !== '') return { name: `ascob-${backend}` };
  throw bad(
    'body.jobSpec.jobhub',
    `is required: give a jobhub job spec, or the label ${BACKEND_LABEL} naming a backend (or ${DUMMY_BACKEND})`,
  );
}

export function ascobJob(js: AscobJobSpec): AscobJob {
  const labels = js.labels ?? {};
  const base = js.jobhub !== undefined ? givenSpec(js.jobhub) : backendSpec(labels);
  const spec: Record<string, unknown> = { ...base };
  if (js.description !== undefined) spec.description = js.description;
  if (Object.keys(labels).length > 0) {
    spec.labels = { ...(isObject(base.labels) ? base.labels : {}), ...labels };
  }
  if (js.locks && js.locks.length > 0) {
    const given = Array.isArray(base.locks) ? base.locks : [];
    spec.locks = [...given, ...js.locks.map((l) => l.key)];
  }
  const params = js.parameters ?? {};
  const names = Object.keys(params);
  for (const n of names) {
    // A name like `__proto__` never reaches an object's machinery below.
    if (!PARAM_NAME.test(n))
      throw bad(`body.jobSpec.parameters.${n}`, 'must be letters, digits and _, from a letter');
  }
  if (names.length > 0) {
    const declared: Record<string, unknown> = isObject(base.params) ? { ...base.params } : {};
    for (const n of names) if (!Object.hasOwn(declared, n)) declared[n] = { type: 'string' };
    spec.params = declared;
  }
  return { text: JSON.stringify(spec), params: { ...params } };
}
