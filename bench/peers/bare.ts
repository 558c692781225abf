/**
 * The bare machine: a Node process that spawns `true` N times, C at a time. Prints one JSON line:
 * elapsed seconds and the CPU seconds this process used (its children's own time not included).
 *
 * Usage: node --import tsx bench/peers/bare.ts N CONCURRENCY
 */
import { cpuSeconds } from '../lib/procs.js';
import { pool, spawnTrue } from './spawn-true.js';

const n = Number(process.argv[2] ?? 1000);
const concurrency = Number(process.argv[3] ?? 8);
const warmup = Math.min(200, Math.ceil(n / 10));
await pool(warmup, concurrency, spawnTrue);
const cpu0 = cpuSeconds(process.pid);
const t0 = performance.now();
await pool(n, concurrency, spawnTrue);
const seconds = (performance.now() - t0) / 1000;
const cpu = cpuSeconds(process.pid) - cpu0;
process.stdout.write(`${JSON.stringify({ n, concurrency, seconds, cpu })}\n`);
