/** Templates (seed 004): the list, one template's versions, and a form to submit a version with its parameters. */
import { useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { ErrorAlert } from '../components/error-alert.js';
import { when } from '../format.js';
import { useGet } from '../hooks.js';
import { Link, navigate } from '../router.js';
import { maySubmit, useSession } from '../session-context.js';
import type { ParamView, TemplateView } from '../types.js';

export function TemplatesPage() {
  const list = useGet<{ results: TemplateView[] }>('/api/v1/templates');
  return (
    <section>
      <h1>Templates</h1>
      {list.error && <p class="error">{list.error}</p>}
      {list.data?.results.length === 0 && (
        <p class="empty">
          No templates yet. Push one with <code>jobhub template push NAME spec.yaml</code>.
        </p>
      )}
      <div class="cards">
        {list.data?.results.map((t) => (
          <article class="card" key={t.name}>
            <h2>
              <Link href={`/templates/${encodeURIComponent(t.name)}`}>{t.name}</Link>
            </h2>
            <p class="muted small">
              version {t.version} of {t.versions ?? 1} · {t.owner?.name ?? 'no owner'} · {when(t.createdAt)}
            </p>
            {t.description && <p>{t.description}</p>}
            <p class="small">
              {t.params.length === 0
                ? 'no parameters'
                : `parameters: ${t.params.map((p) => p.name).join(', ')}`}
            </p>
          </article>
        ))}
      </div>
    </section>
  );
}

export function TemplatePage({ name }: { name: string }) {
  const { me } = useSession();
  const versions = useGet<{ name: string; versions: TemplateView[] }>(
    `/api/v1/templates/${encodeURIComponent(name)}`,
  );
  const [chosen, setChosen] = useState<number | undefined>();
  const all = versions.data?.versions ?? [];
  const version = chosen ?? all[0]?.version;
  const spec = useGet<{ spec: string }>(
    version === undefined ? null : `/api/v1/templates/${encodeURIComponent(name)}/versions/${version}`,
  );
  const current = all.find((v) => v.version === version);
  if (versions.error) return <p class="error">{versions.error}</p>;
  return (
    <section>
      <h1>Template {name}</h1>
      <label for="t-version">Version</label>{' '}
      <select id="t-version" value={version} onChange={(e) => setChosen(Number(e.currentTarget.value))}>
        {all.map((v) => (
          <option key={v.version} value={v.version}>
            {v.version} — {when(v.createdAt)}
            {v.pushedBy ? ` by ${v.pushedBy}` : ''}
          </option>
        ))}
      </select>
      {current?.description && <p>{current.description}</p>}
      {current && maySubmit(me) && (
        <SubmitTemplate name={name} version={current.version} params={current.params} />
      )}
      <h2>Spec</h2>
      <pre class="spec">{spec.data?.spec ?? ''}</pre>
    </section>
  );
}

function SubmitTemplate({ name, version, params }: { name: string; version: number; params: ParamView[] }) {
  const { api } = useSession();
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const q = new URLSearchParams({ template: `${name}@${version}` });
    for (const p of params) {
      const v = p.type === 'boolean' ? (form.get(p.name) ? 'true' : 'false') : String(form.get(p.name) ?? '');
      if (v !== '') q.append('param', `${p.name}=${v}`);
    }
    try {
      const r = await api.post<{ id: number }>(`/api/v1/jobs?${q.toString()}`);
      navigate(`/jobs/${r.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <form class="template-form" onSubmit={submit} key={`${name}@${version}`}>
      <h2>Submit version {version}</h2>
      {params.map((p) => (
        <div key={p.name} class="field">
          <label for={`p-${p.name}`}>
            {p.name}
            {p.required ? ' (required)' : ''}
          </label>
          {p.type === 'enum' ? (
            <select id={`p-${p.name}`} name={p.name} defaultValue={String(p.default ?? '')}>
              {!p.required && <option value="">(default)</option>}
              {(p.values ?? []).map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </select>
          ) : p.type === 'boolean' ? (
            <input id={`p-${p.name}`} name={p.name} type="checkbox" defaultChecked={p.default === true} />
          ) : p.type === 'number' ? (
            <input
              id={`p-${p.name}`}
              name={p.name}
              type="number"
              step="any"
              required={p.required}
              placeholder={p.default !== undefined ? String(p.default) : ''}
            />
          ) : (
            <input
              id={`p-${p.name}`}
              name={p.name}
              type="text"
              required={p.required}
              placeholder={p.default !== undefined ? String(p.default) : ''}
            />
          )}
          {p.description && <p class="help">{p.description}</p>}
        </div>
      ))}
      <button type="submit" class="primary">
        Submit
      </button>
      <ErrorAlert message={error} />
    </form>
  );
}
