#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled core.
import '../dist/src/cli/main.js';
