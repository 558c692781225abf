/**
 * The container engine an agent talks to: any engine that serves the Docker Engine API (Docker,
 * podman's `system service`) over its socket, through dockerode. This file is the only one that knows
 * dockerode's shapes; the rest of the agent sees the small typed surface below.
 */
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { errorText } from '../texts.js';

/** Labels jobhub puts on every container it creates, so cleanups find them through the API. */
export const CONTAINER_LABELS = {
  /** Marks a container as jobhub's. Value: `true`. */
  managed: 'io.jobhub.managed',
  /** The node (agent) that created it. */
  node: 'io.jobhub.node',
  /** The job it belongs to (its id). */
  job: 'io.jobhub.job',
  /** The attempt: `<nodeId>/<jobId>/<taskId>/<attempt>`, as JOBHUB_TASK_TAG of process tasks. */
  task: 'io.jobhub.task',
} as const;

/** The default socket when DOCKER_HOST is unset. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** A failed engine call: the engine's own message, and its HTTP status when it answered at all. */
export class EngineError extends Error {
  constructor(
    message: string,
    /** The engine's HTTP status (404: no such image or container); undefined: no answer. */
    readonly status: number | undefined,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** What a container is made from (see ContainerRun for how a task maps onto it). */
export interface ContainerCreate {
  image: string;
  /** argv; empty: the image's own command. */
  cmd: string[];
  env: Record<string, string>;
  /** Working directory inside the container; '' keeps the image's. */
  workingDir: string;
  /** host path -> container path, read-write. */
  binds: Array<{ host: string; container: string }>;
  ports: Array<{ guest: number; host: number }>;
  labels: Record<string, string>;
}

/** The engine's view of one container, as much as cleanups need. */
export interface ContainerSummary {
  id: string;
  labels: Record<string, string>;
  state: string;
}

/** One line of a pull's progress, or its error. */
export interface PullEvent {
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
}

/**
 * A connection to one engine. Cheap to make: the client library is loaded and the engine asked only
 * when a method is first used (nodes that never run a container pay nothing). Every method turns the
 * engine's errors into {@link EngineError} with its message.
 */
export class ContainerEngine {
  private client: Promise<Docker> | undefined;

  /**
   * @param host `unix:///path`, `tcp://host:port`, or a bare socket path. Default: DOCKER_HOST, else
   *   {@link DEFAULT_DOCKER_SOCKET}.
   */
  constructor(readonly host: string = process.env.DOCKER_HOST || `unix://${DEFAULT_DOCKER_SOCKET}`) {}

  private api(): Promise<Docker> {
    this.client ??= import('dockerode').then(
      ({ default: Dockerode }) => new Dockerode(connectOptions(this.host)),
    );
    return this.client;
  }

  /** True when the engine answers a ping within `timeoutMs` (default 2000). */
  async ping(timeoutMs = 2000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const answer = this.api()
      .then((d) => d.ping())
      .then(
        () => true,
        () => false,
      );
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether the image is on this engine already (no network involved). */
  async hasImage(image: string): Promise<boolean> {
    try {
      await (await this.api()).getImage(image).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw engineError(err);
    }
  }

  /** Pulls an image; `onEvent` sees each progress line. Rejects with the engine's message on failure. */
  async pull(image: string, onEvent: (e: PullEvent) => void): Promise<void> {
    const docker = await this.api();
    let stream: Readable;
    try {
      stream = (await docker.pull(image)) as unknown as Readable;
    } catch (err) {
      throw engineError(err);
    }
    await new Promise<void>((resolve, reject) => {
      let failure: string | undefined;
      docker.modem.followProgress(
        stream,
        (err: unknown) => {
          // An error event in the stream ends the pull too; its message is the one worth showing.
          if (failure !== undefined || err) reject(new EngineError(failure ?? errorText(err), undefined));
          else resolve();
        },
        (event: PullEvent) => {
          if (typeof event.error === 'string') failure ??= event.error;
          onEvent(event);
        },
      );
    });
  }

  /** Creates a container (not started); returns its id. */
  async create(spec: ContainerCreate): Promise<string> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, Array<{ HostPort: string }>> = {};
    for (const p of spec.ports) {
      const key = `${p.guest}/tcp`;
      exposed[key] = {};
      bindings[key] = [...(bindings[key] ?? []), { HostPort: String(p.host) }];
    }
    try {
      const container = await (await this.api()).createContainer({
        Image: spec.image,
        ...(spec.cmd.length > 0 ? { Cmd: spec.cmd } : {}),
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
        Labels: spec.labels,
        ExposedPorts: exposed,
        Tty: false,
        AttachStdout: true,
        AttachStderr: true,
        HostConfig: {
          Binds: spec.binds.map((b) => `${b.host}:${b.container}`),
          PortBindings: bindings,
          // Removal is ours, after the output is read: AutoRemove could take the logs with it.
          AutoRemove: false,
        },
      });
      return container.id;
    } catch (err) {
      throw engineError(err);
    }
  }

  /** Starts a created container; returns its main process's pid on the host (0 when not told). */
  async start(id: string): Promise<number> {
    try {
      const c = (await this.api()).getContainer(id);
      await c.start();
      const info = await c.inspect();
      return info.State.Pid ?? 0;
    } catch (err) {
      throw engineError(err);
    }
  }

  /**
   * Follows its output from the start until it ends, split into `stdout` and `stderr` (the engine
   * multiplexes both on one stream for non-tty containers). Returns the engine's stream (to end it).
   */
  async logs(id: string, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<Readable> {
    try {
      const docker = await this.api();
      const stream = (await docker
        .getContainer(id)
        .logs({ follow: true, stdout: true, stderr: true })) as unknown as Readable;
      docker.modem.demuxStream(stream, stdout, stderr);
      return stream;
    } catch (err) {
      throw engineError(err);
    }
  }

  /** Resolves with the exit code once the container has stopped. */
  async wait(id: string): Promise<number> {
    try {
      const r = (await (await this.api()).getContainer(id).wait()) as { StatusCode?: number };
      return r.StatusCode ?? -1;
    } catch (err) {
      throw engineError(err);
    }
  }

  /** Sends a signal to the container's main process; a container already gone is not an error. */
  async kill(id: string, signal: NodeJS.Signals): Promise<void> {
    try {
      await (await this.api()).getContainer(id).kill({ signal });
    } catch (err) {
      const status = statusOf(err);
      if (status === 404 || status === 409 || status === 304) return; // gone, or not running
      throw engineError(err);
    }
  }

  /** Removes a container, killing it if it still runs; one already gone is not an error. */
  async remove(id: string): Promise<void> {
    try {
      await (await this.api()).getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return;
      // 409: removal already under way (a cleanup raced an attempt's own removal).
      if (status === 409 && /in progress|being removed/i.test(errorText(err))) return;
      throw engineError(err);
    }
  }

  /** Every container (running or not) carrying all the given labels. */
  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const filter = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
    try {
      const found = await (await this.api()).listContainers({
        all: true,
        filters: JSON.stringify({ label: filter }),
      });
      return found.map((c) => ({ id: c.Id, labels: c.Labels ?? {}, state: c.State }));
    } catch (err) {
      throw engineError(err);
    }
  }

  /**
   * Removes every container carrying all the given labels (a job's leftovers, an earlier agent's);
   * returns how many there were. Used as the safety net behind each attempt's own removal.
   */
  async removeAll(labels: Record<string, string>): Promise<number> {
    const found = await this.list(labels);
    await Promise.all(found.map((c) => this.remove(c.id)));
    return found.length;
  }
}

/** dockerode's connection options for a DOCKER_HOST value. */
function connectOptions(host: string): Docker.DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The engine's own message (its JSON `message`), not dockerode's wrapper text. */
function engineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const json = (err as { json?: unknown } | null)?.json;
  const message =
    json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string'
      ? (json as { message: string }).message
      : errorText(err);
  return new EngineError(message.trim(), statusOf(err));
}
