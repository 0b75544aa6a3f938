// `npm run build` (and the first half of `npm start`): compiles src/ and adapters/ into dist/ with
// TypeScript's build mode, which skips the compiler altogether when no input changed since the last
// build (a plain incremental `tsc -p` still parses every file: ~10 s on a small VM), then copies the
// pages' static files. It says which of the two it is doing, on stderr.
import { cpSync } from 'node:fs';
import process from 'node:process';
import ts from 'typescript';

const PROJECT = 'tsconfig.build.json';
const ASSETS = ['adapters/webchat/assets', 'src/sandbox/assets'];

const say = (line) => process.stderr.write(`blinger-bridge: ${line}\n`);

const builder = ts.createSolutionBuilder(ts.createSolutionBuilderHost(ts.sys), [PROJECT], {});
let project = builder.getNextInvalidatedProject();
let failed = false;
// Files touched but not changed: only the outputs' timestamps are brought forward.
if (!project || project.kind === ts.InvalidatedProjectKind.UpdateOutputFileStamps) {
  project?.done();
  say('dist/ is up to date (nothing changed since the last build)');
} else {
  const started = Date.now();
  say('compiling TypeScript into dist/ (a first build takes a while; later starts skip it when nothing changed)…');
  for (; project; project = builder.getNextInvalidatedProject()) {
    if (project.done() !== ts.ExitStatus.Success) failed = true;
  }
  say(failed ? 'the build failed (errors above)' : `compiled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
for (const dir of ASSETS) cpSync(dir, `dist/${dir}`, { recursive: true });
process.exitCode = failed ? 1 : 0;
