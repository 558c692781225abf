import { labelText } from '../format.js';

/** A job's or node's labels, one `key=value` chip each. */
export function LabelChips({ labels }: { labels: Record<string, string> }) {
  return (
    <>
      {labelText(labels).map((l) => (
        <span class="chip" key={l}>
          {l}
        </span>
      ))}
    </>
  );
}
