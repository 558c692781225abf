/**
 * Backend configs between their three forms: what an admin gives (the `--backends` file or the API
 * body, with the token in clear), what the store keeps (the token sealed with the server key), and
 * what the API shows (never a credential).
 */
import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { JobhubError } from '../core/errors.js';
import { parseSource } from '../spec/source.js';
import type { BackendRecord } from '../store/store.js';
import { commonSettings } from './backend.js';
import { type BackendConfigBody, BackendFile, type BackendView } from './config-schema.js';

const bad = (path: string, message: string) =>
  new JobhubError('bad_request', `${path}: ${message}`, [{ path, message }]);

/** What the schema cannot say: the fields each kind needs and takes. */
export function checkBackendConfig(c: BackendConfigBody, at = 'body'): void {
  if (c.token !== undefined && c.tokenSecret !== undefined) {
    throw bad(`${at}.token`, 'give token or tokenSecret, not both');
  }
  if (c.kind === 'jenkins') {
    if (c.job === undefined)
      throw bad(`${at}.job`, 'is required for a jenkins backend (the Jenkins job to build)');
    if ((c.token !== undefined || c.tokenSecret !== undefined) && c.user === undefined) {
      throw bad(`${at}.user`, "is required with a token (Jenkins' Basic auth is user + API token)");
    }
    for (const f of ['statusUrl', 'stopUrl'] as const) {
      if (c[f] !== undefined) throw bad(`${at}.${f}`, 'applies to webhook backends only');
    }
  } else {
    for (const f of ['job', 'user', 'runParameter'] as const) {
      if (c[f] !== undefined) throw bad(`${at}.${f}`, 'applies to jenkins backends only');
    }
  }
}

/** The record to store: the token sealed, the rest as given. */
export function toRecord(
  id: string,
  c: BackendConfigBody,
  source: BackendRecord['source'],
  seal: (plain: string) => string,
  now: number,
): BackendRecord {
  const { token, ...rest } = c;
  return {
    id,
    kind: c.kind,
    config: rest as Record<string, unknown>,
    sealedToken: token === undefined ? null : seal(token),
    source,
    updatedAt: now,
  };
}

export function backendView(r: BackendRecord): BackendView {
  const c = r.config as Partial<BackendConfigBody>;
  const ref = c.tokenSecret;
  const view: BackendView = {
    id: r.id,
    kind: r.kind,
    url: c.url ?? '',
    ...commonSettings(c),
    credentials: r.sealedToken ? 'sealed' : ref ? `secret ${ref.org}/${ref.name}` : 'none',
    source: r.source,
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
  if (c.job !== undefined) view.job = c.job;
  if (c.user !== undefined) view.user = c.user;
  if (c.runParameter !== undefined) view.runParameter = c.runParameter;
  if (c.statusUrl !== undefined) view.statusUrl = c.statusUrl;
  if (c.stopUrl !== undefined) view.stopUrl = c.stopUrl;
  return view;
}

/** Reads the `--backends` file (YAML or JSON); every problem names its place in the file. */
export function loadBackendFile(file: string, seal: (plain: string) => string, now: number): BackendRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new JobhubError(
      'bad_request',
      `--backends ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const parsed = parseSource(text);
  const first = parsed.syntaxErrors[0];
  if (first)
    throw new JobhubError('bad_request', `${file}:${first.line ?? 0}:${first.column ?? 0}: ${first.message}`);
  const problem = [...Value.Errors(BackendFile, parsed.value)][0];
  if (problem) {
    const pos = parsed.map.valueAt(
      problem.path
        .split('/')
        .filter((s) => s !== '')
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
    );
    const where = pos ? `${file}:${pos.line}:${pos.column}` : file;
    throw new JobhubError('bad_request', `${where}: ${problem.path || '/'}: ${problem.message}`);
  }
  const list = (parsed.value as BackendFile).backends;
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const { id, ...config } = entry;
    if (seen.has(id))
      throw new JobhubError('bad_request', `${file}: backends[${i}].id: "${id}" is given twice`);
    seen.add(id);
    try {
      checkBackendConfig(config, `backends[${i}]`);
    } catch (err) {
      throw new JobhubError('bad_request', `${file}: ${(err as Error).message}`);
    }
    return toRecord(id, config, 'file', seal, now);
  });
}
