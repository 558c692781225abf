/** Runs around every test file: temporary folders go when the file is done. */
import { afterAll } from 'vitest';
import { removeTempDirs } from './helpers/embedded.js';

afterAll(() => {
  removeTempDirs();
});
