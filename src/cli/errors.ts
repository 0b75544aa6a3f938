/** The CLI's two kinds of expected failure, each printed as one line (see main.ts). */

/** Wrong usage: printed as one line, exit status 2. */
export class UsageError extends Error {}

/** A command that could not do its job: printed as one line, exit status 1. */
export class CliError extends Error {}
