/**
 * A fake Jenkins on loopback, faithful to the parts of Jenkins' REST API jobhub uses: Basic auth
 * with a user's API token (401 otherwise), a CSRF crumb (`/crumbIssuer/api/json`; a POST without it
 * is 403), `POST /job/NAME/buildWithParameters` answering 201 with the queue item's `Location`, the
 * queue item (`/queue/item/N/api/json`) that stays without `executable` for a while (the slow queue),
 * then names the build, `/job/NAME/N/api/json` (`building`, `result`), `/consoleText`,
 * `/logText/progressiveText?start=` (`X-Text-Size`, `X-More-Data`), `/stop`, `/term`, `/kill`, and
 * `POST /queue/cancelItem?id=`, the queue (`/queue/api/json`) and a job's builds
 * (`/job/NAME/api/json`, newest first, at most 100) with their parameters in a `ParametersAction` as
 * Jenkins answers them; a build keeps only the parameters its job declares (Jenkins drops the others
 * since SECURITY-170), a queue item shows all. A trigger can be held (`holdTrigger`) before or after
 * Jenkins takes it, so a test can kill jobhub in between. Progress is driven by polls, not timers: each poll of a queue item
 * brings it closer to starting, each poll of a build adds a console line, so tests never sleep.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackHttp, sendJson } from './loopback-http.js';

export interface JenkinsJobScript {
  /** Console lines, one more per poll of the build. */
  lines: string[];
  result: 'SUCCESS' | 'FAILURE' | 'UNSTABLE';
  /** Polls of the queue item before it names its build (default 3). */
  queuePolls?: number;
  /** Keep building after the last line until stopped or `finish`ed. */
  hold?: boolean;
  /** The job's declared parameters (default: every parameter a trigger gives). */
  declared?: string[];
}

/** A trigger held: `before` Jenkins takes it (no queue item), or `after` (queued, no answer yet). */
export interface HeldTrigger {
  when: 'before' | 'after';
  /** Resolves once a trigger is held. */
  arrived: Promise<void>;
  /** Ends the held request without an answer (`before`: it was never taken). */
  drop(): void;
}

interface Build {
  job: string;
  number: number;
  script: JenkinsJobScript;
  emitted: number;
  building: boolean;
  result: string | null;
  params: Record<string, string>;
  console: string;
}

interface QueueItem {
  id: number;
  job: string;
  polls: number;
  cancelled: boolean;
  build: Build | undefined;
  params: Record<string, string>;
}

export class FakeJenkins extends LoopbackHttp {
  readonly user = 'robot';
  readonly token = 'jenkins-api-token-5ecret';
  readonly crumb = 'crumb-123';
  private nextQueue = 100;
  private readonly nextBuild = new Map<string, number>();
  readonly scripts = new Map<string, JenkinsJobScript>();
  readonly queue = new Map<number, QueueItem>();
  readonly builds: Build[] = [];
  /** Every request, as `METHOD path`. */
  readonly requests: string[] = [];
  private held: { when: 'before' | 'after'; arrived: () => void; res?: ServerResponse } | undefined;

  /** Holds the next trigger (`before` or `after` Jenkins takes it) until `drop()`. */
  holdTrigger(when: 'before' | 'after'): HeldTrigger {
    let arrived = () => {};
    const promise = new Promise<void>((r) => {
      arrived = r;
    });
    const held: { when: 'before' | 'after'; arrived: () => void; res?: ServerResponse } = { when, arrived };
    this.held = held;
    return {
      when,
      arrived: promise,
      drop: () => {
        if (this.held === held) this.held = undefined;
        held.res?.destroy();
      },
    };
  }

  /** Starts a queued item's build now (Jenkins found an executor), as a poll of the item would. */
  startQueued(id: number): Build {
    const item = this.queue.get(id);
    if (!item) throw new Error(`no queue item ${id}`);
    return this.startItem(item);
  }

  /** Builds triggered (POSTs to buildWithParameters / build). */
  get triggers(): number {
    return this.requests.filter((r) => /^POST \/job\/.*\/(buildWithParameters|build)$/.test(r)).length;
  }

  /** Ends a held build with its script's result. */
  finish(job: string, number: number): void {
    const b = this.builds.find((x) => x.job === job && x.number === number);
    if (!b) throw new Error(`no build ${job} #${number}`);
    b.script = { ...b.script, hold: false };
    while (b.emitted < b.script.lines.length) this.emit(b);
    b.building = false;
    b.result = b.script.result;
  }

  private startItem(item: QueueItem): Build {
    if (item.build) return item.build;
    const script = this.scripts.get(item.job);
    if (!script) throw new Error(`no job ${item.job}`);
    const number = (this.nextBuild.get(item.job) ?? 0) + 1;
    this.nextBuild.set(item.job, number);
    const declared = script.declared;
    const params = Object.fromEntries(
      Object.entries(item.params).filter(([k]) => !declared || declared.includes(k)),
    );
    const build: Build = {
      job: item.job,
      number,
      script,
      emitted: 0,
      building: true,
      result: null,
      params,
      console: '',
    };
    item.build = build;
    this.builds.push(build);
    return build;
  }

  private emit(b: Build): void {
    const line = b.script.lines[b.emitted];
    if (line === undefined) return;
    b.console += `${line}\n`;
    b.emitted++;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}`);
    const expected = `Basic ${Buffer.from(`${this.user}:${this.token}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="Jenkins"' });
      res.end('Unauthorized');
      return;
    }
    if (method === 'POST' && req.headers['jenkins-crumb'] !== this.crumb) {
      res.writeHead(403);
      res.end('No valid crumb was included in the request');
      return;
    }
    const json = (status: number, v: unknown) => sendJson(res, status, v);
    const p = url.pathname;
    if (method === 'GET' && p === '/crumbIssuer/api/json') {
      return json(200, {
        _class: 'hudson.security.csrf.DefaultCrumbIssuer',
        crumb: this.crumb,
        crumbRequestField: 'Jenkins-Crumb',
      });
    }
    let m = /^\/job\/([^/]+)\/(buildWithParameters|build)$/.exec(p);
    if (method === 'POST' && m?.[1]) {
      const job = decodeURIComponent(m[1]);
      if (!this.scripts.has(job)) {
        res.writeHead(404);
        res.end('no such job');
        return;
      }
      const held = this.held;
      if (held) {
        // Held once: the next trigger goes through.
        this.held = undefined;
        held.res = res;
        held.arrived();
        if (held.when === 'before') return;
      }
      const params = Object.fromEntries(new URLSearchParams(body));
      const id = this.nextQueue++;
      this.queue.set(id, { id, job, polls: 0, cancelled: false, build: undefined, params });
      if (held) return;
      res.writeHead(201, { location: `${this.url}/queue/item/${id}/` });
      res.end();
      return;
    }
    if (method === 'GET' && p === '/queue/api/json') {
      const waiting = [...this.queue.values()].filter((i) => !i.build && !i.cancelled);
      return json(200, {
        _class: 'hudson.model.Queue',
        discoverableItems: [],
        items: waiting.map((i) => ({
          _class: 'hudson.model.Queue$WaitingItem',
          actions: [parametersAction(i.params), { _class: 'hudson.model.CauseAction', causes: [] }],
          blocked: false,
          buildable: false,
          id: i.id,
          inQueueSince: 0,
          params: Object.entries(i.params)
            .map(([k, v]) => `\n${k}=${v}`)
            .join(''),
          stuck: false,
          task: { _class: 'hudson.model.FreeStyleProject', name: i.job, url: `${this.url}/job/${i.job}/` },
          url: `queue/item/${i.id}/`,
          why: 'In the quiet period.',
        })),
      });
    }
    m = /^\/job\/([^/]+)\/api\/json$/.exec(p);
    if (method === 'GET' && m?.[1]) {
      const job = decodeURIComponent(m[1]);
      if (!this.scripts.has(job)) return json(404, {});
      // `builds` is the newest 100 (Jenkins' `allBuilds` has the rest).
      const builds = this.builds
        .filter((b) => b.job === job)
        .reverse()
        .slice(0, 100);
      return json(200, {
        _class: 'hudson.model.FreeStyleProject',
        builds: builds.map((b) => ({
          _class: 'hudson.model.FreeStyleBuild',
          actions: [
            { _class: 'hudson.model.CauseAction' },
            ...(Object.keys(b.params).length > 0 ? [parametersAction(b.params)] : []),
            {},
          ],
          number: b.number,
        })),
      });
    }
    m = /^\/queue\/item\/(\d+)\/api\/json$/.exec(p);
    if (method === 'GET' && m) {
      const item = this.queue.get(Number(m[1]));
      if (!item) return json(404, {});
      const script = this.scripts.get(item.job);
      item.polls++;
      if (!item.cancelled && !item.build && script && item.polls > (script.queuePolls ?? 3)) {
        this.startItem(item);
      }
      return json(200, {
        _class: item.build ? 'hudson.model.Queue$LeftItem' : 'hudson.model.Queue$WaitingItem',
        id: item.id,
        cancelled: item.cancelled,
        why: item.build ? null : 'Waiting for next available executor',
        executable: item.build
          ? { number: item.build.number, url: `${this.url}/job/${item.job}/${item.build.number}/` }
          : null,
      });
    }
    if (method === 'POST' && p === '/queue/cancelItem') {
      const item = this.queue.get(Number(url.searchParams.get('id')));
      if (item) item.cancelled = true;
      res.writeHead(204);
      res.end();
      return;
    }
    m = /^\/job\/([^/]+)\/(\d+)\/(api\/json|consoleText|logText\/progressiveText|stop|term|kill)$/.exec(p);
    const b =
      m && this.builds.find((x) => x.job === decodeURIComponent(m?.[1] ?? '') && x.number === Number(m?.[2]));
    if (!m || !b) {
      res.writeHead(404);
      res.end('Not Found');
      return;
    }
    switch (m[3]) {
      case 'api/json':
        if (b.building) {
          this.emit(b);
          if (b.emitted >= b.script.lines.length && !b.script.hold) {
            b.building = false;
            b.result = b.script.result;
          }
        }
        return json(200, {
          _class: 'hudson.model.FreeStyleBuild',
          number: b.number,
          building: b.building,
          result: b.result,
        });
      case 'consoleText':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(b.console);
        return;
      case 'logText/progressiveText': {
        const start = Number(url.searchParams.get('start') ?? 0);
        const all = Buffer.from(b.console);
        res.writeHead(200, {
          'content-type': 'text/plain',
          'x-text-size': String(all.length),
          ...(b.building ? { 'x-more-data': 'true' } : {}),
        });
        res.end(all.subarray(Math.min(start, all.length)));
        return;
      }
      default:
        if (method !== 'POST') {
          res.writeHead(405);
          res.end();
          return;
        }
        if (b.building) {
          b.console += 'Aborted by user robot\n';
          b.building = false;
          b.result = 'ABORTED';
        }
        res.writeHead(302, { location: `${this.url}/job/${b.job}/${b.number}/` });
        res.end();
    }
  }
}

/** A `ParametersAction` as Jenkins' JSON API shows it. */
function parametersAction(params: Record<string, string>): unknown {
  return {
    _class: 'hudson.model.ParametersAction',
    parameters: Object.entries(params).map(([name, value]) => ({
      _class: 'hudson.model.StringParameterValue',
      name,
      value,
    })),
  };
}
