import { ConfigError, loadConfig } from '../../src/config/load.js';

/** The problems loadConfig reports for `env`; throws (failing the test) when the config loads. */
export function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}
