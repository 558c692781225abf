/**
 * Candidates searched at most: past that, no suggestion. Every unknown name of a spec is compared
 * with every candidate, so a spec with thousands of both would take seconds (quadratic).
 */
const MAX_CANDIDATES = 500;

/** "Did you mean" for names: the closest candidate within a small edit distance. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const all = [...candidates];
  if (all.length > MAX_CANDIDATES || word.length > 200) return undefined;
  let best: string | undefined;
  // Short words tolerate one edit, longer ones a third of their length.
  let bestDistance = (word.length <= 3 ? 1 : Math.max(2, Math.floor(word.length / 3))) + 1;
  for (const c of all) {
    if (Math.abs(c.length - word.length) >= bestDistance) continue; // the distance is at least that
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c ? ` (did you mean "${c}"?)` : '';
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

/**
 * Names for a message, comma-separated: at most `max`, then how many more. A spec with thousands
 * of stages must not make every problem's message list them all.
 */
export function nameList(names: readonly string[], max = 20): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')}, … (${names.length - max} more)`;
}
