/** A status as a coloured badge with its word (colour is never the only cue). */
export function Status({ status }: { status: string }) {
  return <span class={`status s-${status}`}>{status}</span>;
}

/** The CSS colour variable of a status (graph nodes). */
export function statusClass(status: string): string {
  return `s-${status}`;
}
