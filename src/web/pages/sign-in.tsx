/** Sign in by pasting an API token; it is checked with GET /api/v1/whoami. */
import { useState } from 'preact/hooks';
import { Api, ApiError } from '../api.js';
import { ErrorAlert } from '../components/error-alert.js';
import type { WhoAmI } from '../types.js';

export function SignIn({ onSignedIn }: { onSignedIn(token: string, me: WhoAmI): void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const t = token.trim();
    if (t === '') {
      setError('Paste an API token.');
      return;
    }
    setBusy(true);
    try {
      const me = await new Api(t).get<WhoAmI>('/api/v1/whoami');
      onSignedIn(t, me);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'The server does not know this token (or it was revoked or has expired).'
          : err instanceof ApiError && err.status === 403
            ? 'This token may not use the API (agent tokens only connect agents).'
            : `Could not sign in: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin" id="main">
      <h1>jobhub</h1>
      <form onSubmit={submit} aria-describedby="signin-help">
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          aria-invalid={error !== undefined}
          aria-describedby={error ? 'signin-error' : undefined}
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <ErrorAlert id="signin-error" message={error} />
        <p id="signin-help" class="help">
          Make one with <code>jobhub token create NAME</code>. The token is kept in this tab's session storage
          only: closing the tab or signing out forgets it.
        </p>
      </form>
    </main>
  );
}
