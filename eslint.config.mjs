// ESLint: the recommended and type-checked rules of typescript-eslint over the TypeScript sources and
// tests; formatting is Prettier's (eslint-config-prettier turns off the rules it owns).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'web/', 'bench/', 'scripts/', 'tests/clients/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    rules: {
      // A leading underscore marks a binding kept on purpose: an Express error handler's fourth argument,
      // or a property taken out of an object by destructuring.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // better-sqlite3 is synchronous: the SQLite store implements the asynchronous Store interface with
      // async functions that do not await, so that a throw reaches the caller as a rejection.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests read HTTP answers (supertest's `body` is `any` by design) and assert on their shape:
    // member access on those values is the point of the test, so the no-unsafe-* family is off there.
    files: ['tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  prettier,
);
