/**
 * Lets a child process run the service straight from src/ (no build): `node -r tests/support/ts-register.js
 * src/server.ts`. Each .ts file is transpiled on load with the project's TypeScript (types are not checked
 * here; `npm run typecheck` does that).
 */
'use strict';
const fs = require('node:fs');
const ts = require('typescript');

require.extensions['.ts'] = function compileTs(module, filename) {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, resolveJsonModule: true },
  });
  module._compile(outputText, filename);
};
