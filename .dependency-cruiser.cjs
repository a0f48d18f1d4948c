/**
 * The import rules of src/ (checked in CI by `npm run lint:deps`): no cycles between files, and
 * imports only point down the layers, lowest first:
 *   core -> config -> storage -> clinical -> auth -> sdc -> ops -> http -> app.ts, server.ts
 * A folder may import itself and any folder below it, never one above.
 */
const LAYERS = ['core', 'config', 'storage', 'clinical', 'auth', 'sdc', 'ops', 'http'];

const layerRules = LAYERS.map((layer, i) => ({
  name: `${layer}-imports-down`,
  comment: `src/${layer}/ may import only ${['itself', ...LAYERS.slice(0, i)].join(', ')}`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${[...LAYERS.slice(i + 1), 'app\\.ts', 'server\\.ts'].join('|')})` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No file imports, directly or through others, a file that imports it',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
