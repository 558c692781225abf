/**
 * The container engine the docker driver tests run on: DOCKER_HOST (scripts/podman-engine.sh sets
 * one up), else the default socket, with the local busybox image. Without them the tests skip.
 */
import { CONTAINER_LABELS, ContainerEngine } from '../../src/agent/containers/engine.js';

/** The image the tests run (made locally by scripts/podman-engine.sh). */
export const TEST_IMAGE = process.env.JOBHUB_TEST_IMAGE || 'localhost/busybox:latest';

export interface TestEngine {
  engine: ContainerEngine;
  /** Containers with jobhub's labels (and the given ones), running or not. */
  jobhubContainers(labels?: Record<string, string>): Promise<string[]>;
}

/** The engine, or why the docker tests skip. */
export async function testEngine(): Promise<{ engine?: TestEngine; why?: string }> {
  const engine = new ContainerEngine();
  if (!(await engine.ping(3000)))
    return {
      why: `no container engine answers at ${engine.host} (run scripts/podman-engine.sh as root and set DOCKER_HOST)`,
    };
  if (!(await engine.hasImage(TEST_IMAGE)))
    return {
      why: `image ${TEST_IMAGE} is not on the engine at ${engine.host} (scripts/podman-engine.sh makes it)`,
    };
  return {
    engine: {
      engine,
      async jobhubContainers(labels = {}) {
        const found = await engine.list({ [CONTAINER_LABELS.managed]: 'true', ...labels });
        return found.map((c) => c.id);
      },
    },
  };
}
