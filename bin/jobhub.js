#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

// Exit explicitly: a finished command must not wait on a stray timer or socket.
process.exit(await main(process.argv.slice(2)));
