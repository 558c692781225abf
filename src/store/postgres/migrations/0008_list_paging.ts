/**
 * Migration 8: paging the job list (SQLite's migration 8 adds an index of the id for the same end).
 * `start=N` pages skip N−1 jobs in id order; the list skips them in the primary key alone and reads
 * only the rows of the page (see jobs.ts). That is an index-only scan as long as the visibility map
 * of `jobs` is current, so the table is vacuumed after 1% of new rows rather than the default 20%
 * (a million jobs would otherwise go 200,000 inserts between vacuums).
 */

export const VERSION = 8;
export const NAME = 'list_paging';

export const SQL = `
ALTER TABLE jobs SET (autovacuum_vacuum_insert_scale_factor = 0.01);
`;
