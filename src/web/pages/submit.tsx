/** Submit a spec by pasting YAML (or JSON): validate first or submit; problems shown at their lines. */
import { useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { YamlEditor } from '../components/yaml-editor.js';
import { navigate } from '../router.js';
import { maySubmit, useSession } from '../session-context.js';
import type { Problem } from '../types.js';

export function SubmitPage() {
  const { api, me } = useSession();
  const [text, setText] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | undefined>();
  const [busy, setBusy] = useState(false);

  const validate = async () => {
    setBusy(true);
    try {
      const r = await api.post<{ valid: boolean; problems: Problem[] }>(
        '/api/v1/specs/validate',
        text,
        'application/yaml',
      );
      setProblems(r.problems);
      setMessage(
        r.valid
          ? { kind: 'ok', text: 'The spec is valid.' }
          : { kind: 'error', text: `${r.problems.length} problem(s).` },
      );
    } catch (err) {
      show(err);
    } finally {
      setBusy(false);
    }
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const r = await api.post<{ id: number }>('/api/v1/jobs', text, 'application/yaml');
      navigate(`/jobs/${r.id}`);
    } catch (err) {
      show(err);
    } finally {
      setBusy(false);
    }
  };
  const show = (err: unknown) => {
    if (err instanceof ApiError) {
      setProblems(err.problems().filter((p) => typeof p.message === 'string'));
      setMessage({ kind: 'error', text: err.message });
    } else setMessage({ kind: 'error', text: String(err) });
  };

  if (!maySubmit(me)) return <p>This token may not submit jobs (its scope is {me.token.scope}).</p>;
  return (
    <section>
      <h1>Submit a job</h1>
      <form onSubmit={submit} class="submit">
        <YamlEditor
          label="Job spec (YAML or JSON)"
          value={text}
          onInput={(t) => {
            setText(t);
            if (problems.length > 0) setProblems([]);
          }}
          problems={problems}
        />
        <div class="row">
          <button type="button" disabled={busy || text.trim() === ''} onClick={() => void validate()}>
            Validate
          </button>
          <button type="submit" class="primary" disabled={busy || text.trim() === ''}>
            Submit
          </button>
          {message && (
            <span class={message.kind === 'ok' ? 'ok' : 'error'} role="status">
              {message.text}
            </span>
          )}
        </div>
      </form>
    </section>
  );
}
