/**
 * Migration 6: locks the server declares with a capacity (a semaphore: at most N holders). Who
 * holds a lock is not stored here: a job holds its locks while it runs (see engine/lock-state.ts).
 */

export const VERSION = 6;
export const NAME = 'locks';

export const SQL = `
CREATE TABLE locks (
  name        TEXT    PRIMARY KEY,
  capacity    INTEGER NOT NULL CHECK (capacity >= 1),
  created_at  BIGINT  NOT NULL
);
`;
