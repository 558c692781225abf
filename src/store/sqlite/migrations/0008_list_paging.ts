/**
 * Migration 8: paging the job list. `start=N` pages skip N−1 jobs in id order; skipping them in the
 * table itself reads every skipped job's row (specs and all, many pages each), so page 500 of a
 * million jobs took tens of ms. An index of the id alone is a few bytes per job: the list skips
 * along it and reads only the rows of the page (see jobs.ts).
 */

export const VERSION = 8;
export const NAME = 'list_paging';

export const SQL = `
CREATE INDEX jobs_id ON jobs (id);
`;
