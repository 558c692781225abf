/** The app shell: sign-in gate, navigation, and the page for the current path. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api } from './api.js';
import { JobPage } from './pages/job.js';
import { JobsPage } from './pages/jobs.js';
import { LocksPage } from './pages/locks.js';
import { NodePage, NodesPage } from './pages/nodes.js';
import { SignIn } from './pages/sign-in.js';
import { SubmitPage } from './pages/submit.js';
import { TemplatePage, TemplatesPage } from './pages/templates.js';
import { Link, match, navigate, useLocation } from './router.js';
import { forgetToken, savedToken, saveToken } from './session.js';
import { type Session, SessionContext } from './session-context.js';
import type { WhoAmI } from './types.js';

const NAV: Array<[string, string]> = [
  ['/jobs', 'Jobs'],
  ['/submit', 'Submit'],
  ['/templates', 'Templates'],
  ['/nodes', 'Nodes'],
  ['/locks', 'Locks'],
];

export function App() {
  const [token, setToken] = useState<string | null>(savedToken);
  const [me, setMe] = useState<WhoAmI | null>(null);
  const [checking, setChecking] = useState(token !== null);
  const signOut = () => {
    forgetToken();
    setToken(null);
    setMe(null);
  };
  const api = useMemo(() => (token ? new Api(token, signOut) : null), [token]);

  // A token kept from earlier in this tab is checked again before anything shows.
  useEffect(() => {
    if (!api || me) return;
    setChecking(true);
    api.get<WhoAmI>('/api/v1/whoami').then(
      (who) => {
        setMe(who);
        setChecking(false);
      },
      () => {
        signOut();
        setChecking(false);
      },
    );
  }, [api]);

  if (!api || !me) {
    if (checking) return <p class="loading">Checking the saved token…</p>;
    return (
      <SignIn
        onSignedIn={(t, who) => {
          saveToken(t);
          setToken(t);
          setMe(who);
          if (window.location.pathname === '/signin') navigate('/jobs', true);
        }}
      />
    );
  }
  const session: Session = { api, me, signOut };
  return (
    <SessionContext.Provider value={session}>
      <Shell />
    </SessionContext.Provider>
  );
}

function Shell() {
  const loc = useLocation();
  return (
    <SessionContext.Consumer>
      {(s) => (
        <div class="shell">
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="top">
            <Link href="/jobs" class="brand">
              jobhub
            </Link>
            <nav aria-label="Main">
              <ul>
                {NAV.map(([href, label]) => (
                  <li key={href}>
                    <Link href={href} aria-current={loc.path.startsWith(href) ? 'page' : undefined}>
                      {label}
                    </Link>
                  </li>
                ))}
              </ul>
            </nav>
            <div class="who">
              <span title="signed in as">{s?.me.user?.name ?? s?.me.token.name}</span>
              <button type="button" class="link" onClick={() => s?.signOut()}>
                Sign out
              </button>
            </div>
          </header>
          <main id="main" tabIndex={-1}>
            <Page path={loc.path} query={loc.query} />
          </main>
        </div>
      )}
    </SessionContext.Consumer>
  );
}

/** Paths with parts, and the page each shows (the plain ones are in Page). */
const ROUTES: Array<[string, (m: Record<string, string>) => preact.JSX.Element]> = [
  ['/jobs/:id/tasks/:task', (m) => <JobPage id={Number(m.id)} task={m.task} />],
  ['/jobs/:id', (m) => <JobPage id={Number(m.id)} />],
  ['/nodes/:id', (m) => <NodePage id={m.id ?? ''} />],
  ['/templates/:name', (m) => <TemplatePage name={m.name ?? ''} />],
];

function Page({ path, query }: { path: string; query: URLSearchParams }) {
  if (path === '/' || path === '/jobs' || path === '/signin') return <JobsPage query={query} />;
  if (path === '/nodes') return <NodesPage />;
  if (path === '/locks') return <LocksPage />;
  if (path === '/templates') return <TemplatesPage />;
  if (path === '/submit') return <SubmitPage />;
  for (const [pattern, page] of ROUTES) {
    const m = match(pattern, path);
    if (m) return page(m);
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>
        Nothing here. <Link href="/jobs">Back to the jobs</Link>.
      </p>
    </section>
  );
}
