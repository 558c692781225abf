/**
 * `${VAR}` and `${VAR:-default}` in http and tcp probe addresses, filled in on the node from the
 * task's environment (the agent's own plus the task's), as a shell would for a command probe.
 */
export function expandEnv(text: string, env: Record<string, string | undefined>): string {
  if (!text.includes('${')) return text;
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_all, name: string, fallback?: string) => {
      const value = env[name];
      return value !== undefined && value !== '' ? value : (fallback ?? '');
    },
  );
}

/** `host:port` (the port after the last colon), or undefined. */
export function splitHostPort(address: string): { host: string; port: number } | undefined {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: address.slice(0, at), port };
}
