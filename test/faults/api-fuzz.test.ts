/**
 * Property-based fuzzing of every documented API operation with the admin token: generated path
 * parameters, query strings, headers and bodies (random JSON, wrong content types, invalid UTF-8,
 * deep nesting, oversized). The rules: no 5xx, every non-2xx answer is JSON in the error format
 * `{error, code}`, nothing hangs, and the server keeps serving (/healthz after each operation).
 *
 * Inputs come from a fixed seed (set JOBHUB_FUZZ_SEED to explore others); every failure is listed
 * with the request that caused it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiHarness } from '../helpers/api.js';
import { recordFaults } from './support/fault-report.js';

const SEED = Number(process.env.JOBHUB_FUZZ_SEED ?? 20261124);
/** Requests per operation (plus a few fixed ones: oversized, deep nesting, invalid UTF-8). */
const RUNS = Number(process.env.JOBHUB_FUZZ_RUNS ?? 80);
const PARALLEL = 8;
const BODY_LIMIT = 64 * 1024;

interface Param {
  in: 'path' | 'query' | 'header';
  name: string;
}
interface Operation {
  operationId: string;
  parameters?: Param[];
  requestBody?: { content: Record<string, unknown> };
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
}

interface Req {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
  what: string;
}

const SPEC = `name: fuzz-target
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "echo hi"}}
`;

let a: ApiHarness;
let doc: Doc;
let jobId = 1;
let nodeId = 'local';

beforeAll(async () => {
  a = await apiHarness({ bodyLimit: BODY_LIMIT, rateLimit: 0 });
  doc = (await (await fetch(`${a.base}/api/v1/openapi.json`)).json()) as Doc;
  // One finished job, so generated ids sometimes reach the routes' deeper code.
  const res = await a.api('/api/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: SPEC,
  });
  jobId = ((await res.json()) as { id: number }).id;
  await a.h.coordinator.waitForEnd(jobId);
  nodeId = (await a.h.store.listNodes())[0]?.id ?? nodeId;
});
afterAll(async () => {
  await a?.dispose();
});

// ---------------------------------------------------------------------------------------------
// Generators

const weird = fc.constantFrom(
  '',
  ' ',
  '..',
  '.',
  '-1',
  '0',
  '1.5',
  '1e400',
  '9007199254740993',
  '99999999999999999999999999',
  'NaN',
  'null',
  'true',
  '[]',
  '{}',
  '😀',
  '\u0000',
  '\u202e',
  'a'.repeat(3000),
  "'; DROP TABLE jobs; --",
  '../../etc/passwd',
);
/** A raw, already-encoded URL piece: broken escapes and invalid UTF-8 included. */
const rawPiece = fc.constantFrom(
  '%FF',
  '%C3%28',
  '%E2%82',
  '%ZZ',
  '%',
  '%00',
  '%2F',
  '%2e%2e',
  '%ED%A0%80',
  '%F4%90%80%80',
);
const text = fc.oneof(
  weird,
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.integer().map(String),
  fc.bigInt().map(String),
);
/** An encoded URL piece. */
const urlValue = (known: string[]) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...known).map(encodeURIComponent) },
    { weight: 4, arbitrary: text.map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.tuple(text, rawPiece).map(([t, r]) => `${encodeURIComponent(t)}${r}`) },
  );

const leaf = fc.oneof(
  fc.string({ maxLength: 16 }),
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** 53 + 2, -1, 0),
  fc.boolean(),
  fc.constant(null),
);
const KEYS = [
  'name',
  'stages',
  'tasks',
  'user',
  'org',
  'role',
  'value',
  'scopes',
  'expiresIn',
  'owner',
  'cron',
  'params',
  'holder',
  'ttl',
  'spec',
  'id',
  '__proto__',
  'constructor',
];
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), tie('value'), {
    maxKeys: 5,
  }),
})).value;

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=latin1',
  'application/yaml',
  'text/yaml',
  'text/plain',
  'application/octet-stream',
  'multipart/form-data; boundary=xyz',
  'multipart/form-data',
  'application/x-www-form-urlencoded',
  'text/html',
  'application/xml',
  'image/png',
  '',
  ';;;',
  'application/json; boundary',
];
const INVALID_UTF8 = Uint8Array.from([
  0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x22, 0x7d,
]);

/** Spec-like YAML with anchors, aliases, tags and odd indentation. */
const yamlish = fc
  .array(
    fc.tuple(
      fc.constantFrom(0, 0, 2, 4, 5),
      fc.constantFrom('name', 'stages', '- name', 'tasks', 'shell', 'command', 'locks', '<<'),
      fc.constantFrom(
        '',
        ' x',
        ' &a x',
        ' *a',
        ' *b',
        ' !!binary x',
        ' !!int x',
        ' [',
        ' {a: *a}',
        ' |',
        ' "\\u0000"',
      ),
    ),
    { minLength: 1, maxLength: 8 },
  )
  .map((lines) => lines.map(([ind, k, v]) => `${' '.repeat(ind)}${k}:${v}`).join('\n'));

const body = (declared: string[]) =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({ type: fc.constantFrom(...declared, 'application/yaml'), body: yamlish }),
    },
    fc.record({ type: fc.constantFrom(...declared), body: json.map((v) => JSON.stringify(v) ?? 'null') }),
    fc.record({
      type: fc.constantFrom(...CONTENT_TYPES),
      body: json.map((v) => JSON.stringify(v) ?? 'null'),
    }),
    fc.record({ type: fc.constantFrom(...declared, ...CONTENT_TYPES), body: fc.string({ maxLength: 200 }) }),
    fc.record({
      type: fc.constantFrom(...declared, ...CONTENT_TYPES),
      body: fc.uint8Array({ maxLength: 200 }),
    }),
    fc.record({
      type: fc.constantFrom(...declared, 'application/json', 'application/yaml'),
      body: fc.constant(INVALID_UTF8),
    }),
    fc.record({
      type: fc.constantFrom('multipart/form-data; boundary=xyz'),
      body: fc
        .array(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 40 })), { maxLength: 3 })
        .map(
          (parts) =>
            parts
              .map(
                ([n, v]) =>
                  `--xyz\r\nContent-Disposition: form-data; name="${n}"; filename="${n}"\r\n\r\n${v}\r\n`,
              )
              .join('') + '--xyz--\r\n',
        ),
    }),
  );

function known(name: string): string[] {
  if (name === 'id') return [String(jobId), nodeId, '1', '2'];
  if (name === 'org') return ['admin', 'nobody'];
  if (name === 'user') return ['admin'];
  if (name === 'name') return ['fuzz-target', 'lock-a'];
  if (name === 'version') return ['1', 'latest'];
  return ['x'];
}

function requestOf(path: string, method: string, op: Operation): fc.Arbitrary<Req> {
  const params = op.parameters ?? [];
  const pathParams = params.filter((p) => p.in === 'path');
  const queryParams = params.filter((p) => p.in === 'query');
  const declared = Object.keys(op.requestBody?.content ?? {});
  const withBody = method !== 'GET' && method !== 'HEAD';
  return fc
    .record({
      path: fc.tuple(...pathParams.map((p) => urlValue(known(p.name)))),
      query: fc.array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom(...queryParams.map((p) => p.name), 'x'),
            fc.string({ maxLength: 6 }).map(encodeURIComponent),
          ),
          fc.oneof(urlValue(['true', 'false', '1', '0', '-1', 'running', 'a=b', 'a:b']), fc.constant('')),
        ),
        { maxLength: 5 },
      ),
      garbage: fc.option(fc.constantFrom('&&', '=', '&=&', '%', '%ZZ', '&a', 'a[b]=c', 'a=%FF'), { freq: 6 }),
      lastEventId: fc.option(text, { freq: 4 }),
      body: withBody
        ? fc.option(body(declared.length > 0 ? declared : ['application/json']), { freq: 6 })
        : fc.constant(null),
    })
    .map(({ path: values, query, garbage, lastEventId, body: b }) => {
      let i = 0;
      let url = path.replace(/\{[^}]+\}/g, () => values[i++] ?? 'x');
      const qs = query.map(([k, v]) => `${k}=${v}`);
      if (garbage !== null) qs.push(garbage);
      if (qs.length > 0) url += `?${qs.join('&')}`;
      const headers: Record<string, string> = {};
      if (lastEventId !== null && /^[\x20-\x7e]*$/.test(lastEventId)) headers['last-event-id'] = lastEventId;
      const req: Req = { url, method, headers, what: `${method} ${url}` };
      if (b !== null) {
        if (b.type !== '') headers['content-type'] = b.type;
        req.body = b.body;
        const shown = typeof b.body === 'string' ? b.body : `bytes ${Buffer.from(b.body).toString('hex')}`;
        req.what += ` [${b.type}] ${shown.slice(0, 300)}`;
      }
      return req;
    });
}

/** Fixed hard cases for an operation that takes a body. */
function hardCases(url: string, method: string, declared: string[]): Req[] {
  const type = declared.includes('application/json')
    ? 'application/json'
    : (declared[0] ?? 'application/json');
  const deepArray = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
  const deepObject = `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`;
  const deepYaml = `${'- '.repeat(2_000)}x`;
  const huge = `{"name":"${'x'.repeat(BODY_LIMIT * 2)}"}`;
  const cases: Array<[string, string | Uint8Array]> = [
    [type, deepArray],
    [type, deepObject],
    ['application/yaml', deepYaml],
    [type, huge],
    [type, INVALID_UTF8],
    ['application/json', '{"a":1'],
    ['application/json', '\ufeff{}'],
  ];
  return cases.map(([t, b]) => ({
    url,
    method,
    headers: { 'content-type': t },
    body: b,
    what: `${method} ${url} [${t}] ${typeof b === 'string' ? b.slice(0, 60) : 'invalid utf-8'}… (${b.length} bytes)`,
  }));
}

// ---------------------------------------------------------------------------------------------
// Sending and judging

/** The problem with the answer to `req`, or null when it follows the rules. */
async function judge(req: Req): Promise<string | null> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 10_000);
  try {
    const headers = new Headers(req.headers);
    headers.set('x-api-token', 'adm');
    const init: RequestInit = { method: req.method, headers, signal: ctl.signal };
    if (req.body !== undefined) init.body = req.body;
    let res: Response;
    try {
      res = await fetch(`${a.base}${req.url}`, init);
    } catch (err) {
      // fetch itself refuses some URLs and headers; that is the client, not the server.
      if (err instanceof TypeError && !/fetch failed/.test(err.message)) return null;
      return `no answer: ${(err as Error).message} ${String((err as Error).cause ?? '')}`;
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0] ?? '';
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status < 300 && type === 'text/event-stream') {
      await res.body?.cancel(); // a follow stream: it answered, that is enough
      return null;
    }
    const buf = await res.text();
    if (res.status >= 500) return `${res.status}: ${buf.slice(0, 300)}`;
    if (res.status < 400) return null;
    if (type !== 'application/json')
      return `${res.status} as ${type || 'no content type'}: ${buf.slice(0, 200)}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(buf);
    } catch {
      return `${res.status}: not JSON: ${buf.slice(0, 200)}`;
    }
    const e = parsed as { error?: unknown; code?: unknown };
    if (typeof e?.error !== 'string' || typeof e.code !== 'string') {
      return `${res.status}: not the error format: ${buf.slice(0, 200)}`;
    }
    return null;
  } catch (err) {
    return ctl.signal.aborted ? 'no answer within 10 s' : `failed: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Answers by status, printed at the end: the fuzzer reached past the first checks. */
const statuses = new Map<number, number>();

async function healthy(): Promise<boolean> {
  const res = await fetch(`${a.base}/healthz`, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
  return res?.status === 200;
}

interface Target {
  path: string;
  method: string;
  op: Operation;
}

function targets(): Target[] {
  const out: Target[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(ops)) out.push({ path, method: m.toUpperCase(), op });
  }
  return out;
}

describe('every documented operation under fuzzing', () => {
  it('never answers 5xx, answers errors as {error, code}, and keeps serving', async () => {
    const failures: string[] = [];
    let sent = 0;
    const all = targets();
    expect(all.length).toBeGreaterThanOrEqual(60);
    for (const [n, t] of all.entries()) {
      const reqs = fc.sample(requestOf(t.path, t.method, t.op), { numRuns: RUNS, seed: SEED + n });
      if (t.op.requestBody) {
        const url = t.path.replace(/\{[^}]+\}/g, (m) => (m === '{id}' ? String(jobId) : 'x'));
        reqs.push(...hardCases(url, t.method, Object.keys(t.op.requestBody.content)));
      }
      for (let i = 0; i < reqs.length; i += PARALLEL) {
        const batch = reqs.slice(i, i + PARALLEL);
        const results = await Promise.all(batch.map(judge));
        results.forEach((r, j) => {
          if (r !== null) failures.push(`${t.op.operationId}: ${batch[j]?.what}\n    → ${r}`);
        });
      }
      sent += reqs.length;
      if (!(await healthy())) {
        failures.push(`${t.op.operationId}: /healthz failed after the batch`);
        break;
      }
    }
    console.log(
      `api fuzz: ${sent} requests over ${all.length} operations (seed ${SEED}), ${failures.length} failures; by status: ${[
        ...statuses,
      ]
        .sort(([x], [y]) => x - y)
        .map(([s, c]) => `${s}×${c}`)
        .join(' ')}`,
    );
    recordFaults({
      kind: 'fuzzed requests',
      injected: sent,
      serverErrors: [...statuses].reduce((n, [s, c]) => (s >= 500 ? n + c : n), 0),
    });
    expect(failures, `seed ${SEED}\n${failures.slice(0, 40).join('\n')}`).toEqual([]);
  }, 60_000);
});

describe('regressions found by the fuzzers', () => {
  it('a spec with an alias and no anchor answers 400 spec_invalid, located, on every spec route', async () => {
    const spec = 'name: alias\nstages: *a\n';
    const check = await a.api('/api/v1/specs/validate', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: spec,
    });
    expect(check.status).toBe(200); // an invalid spec is a 200 answer here
    const checked = (await check.json()) as { valid: boolean; problems: Array<{ message: string }> };
    expect(checked.valid).toBe(false);
    expect(checked.problems[0]).toMatchObject({ line: 2, column: 9 });
    expect(checked.problems[0]?.message).toMatch(/^invalid alias/);
    for (const url of ['/api/v1/plan', '/api/v1/jobs', '/api/v1/templates?name=alias']) {
      const res = await a.api(url, {
        method: 'POST',
        headers: { 'content-type': 'application/yaml' },
        body: spec,
      });
      const body = (await res.json()) as {
        code: string;
        details?: Array<{ line?: number; message: string }>;
      };
      expect(res.status, `${url}: ${JSON.stringify(body)}`).toBe(400);
      expect(body.code).toBe('spec_invalid');
      expect(body.details?.[0]).toMatchObject({ line: 2, column: 9 });
      expect(body.details?.[0]?.message).toMatch(/^invalid alias/);
    }
  });
});
