#!/usr/bin/env node
import { hardenProcess } from '../lib/process/index.js';
import { main } from './main.js';

// Before any key or identity is read: no core dump or diagnostic report may contain them.
hardenProcess();

process.exitCode = await main(
  process.argv.slice(2),
  { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
  process.env,
  process.cwd(),
);
