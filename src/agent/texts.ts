/** Short human texts shared by the agent's parts (reports and log lines). */

/** `500ms`, `2s`, `2.5s`, `1m30s`: whole seconds print without decimals, unlike core's formatDuration. */
export function shortDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(2))}s`;
  const totalS = Math.round(ms / 1000);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  if (h > 0) return `${h}h${m > 0 ? `${m}m` : ''}`;
  return `${m}m${s > 0 ? `${s}s` : ''}`;
}

/** `exit code 3` or `killed by SIGKILL`. */
export function exitText(code: number | null, signal: string | null): string {
  if (signal) return `killed by ${signal}`;
  return `exit code ${code ?? 'unknown'}`;
}

export function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/**
 * A one-line text for any thrown value. Node's AggregateError (several addresses tried) has an empty
 * message, so its first inner error or its code stands in.
 */
export function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') {
    const first: unknown = err.errors[0];
    if (first !== undefined) return errorText(first);
  }
  if (err instanceof Error) return err.message !== '' ? err.message : (errorCode(err) ?? err.name);
  return String(err);
}
