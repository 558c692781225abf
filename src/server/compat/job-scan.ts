/**
 * A page of jobs filtered by what the store cannot filter (ASCOB's status words, o2r's compendium):
 * the store's own filters narrow the rows, newest first, read a page at a time by keyset; `keep`
 * decides on each. Skips `skip` kept jobs, takes `take`, and says whether more were left.
 */
import type { JobQuery, JobRecord, Store } from '../../store/store.js';

/** Rows read from the store per round. */
const PAGE = 500;

export async function scanJobs(
  store: Store,
  query: JobQuery,
  keep: (job: JobRecord) => boolean,
  skip: number,
  take: number,
): Promise<{ jobs: JobRecord[]; more: boolean }> {
  const jobs: JobRecord[] = [];
  let skipped = 0;
  let beforeId = query.beforeId;
  for (;;) {
    const page = await store.listJobs({
      ...query,
      ...(beforeId !== undefined ? { beforeId } : {}),
      start: 1,
      limit: PAGE,
    });
    for (const job of page) {
      if (!keep(job)) continue;
      if (skipped < skip) {
        skipped++;
        continue;
      }
      if (jobs.length === take) return { jobs, more: true };
      jobs.push(job);
    }
    const last = page[page.length - 1];
    if (page.length < PAGE || !last) return { jobs, more: false };
    beforeId = last.id;
  }
}
