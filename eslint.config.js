// ESLint flat config (docs/decisions.md, "Lint and format"): typescript-eslint's `strict` rules, plus
// the type-checked rules that catch lost work in async code (a promise nobody awaits, an async
// callback where a sync one is expected, a thrown non-Error). Formatting is Prettier's job:
// eslint-config-prettier turns the overlapping rules off.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // The .gitignore'd scratch directories too (.dev/, .stack/): ESLint does not read .gitignore.
  { ignores: ['dist/', 'node_modules/', 'docker/', 'ops/', '.dev/', '.stack/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // tsconfig has noUncheckedIndexedAccess: `rows[0]!` after a length check is the idiom that
      // states "this index is in range"; banning `!` would turn each into a runtime branch that
      // can never run.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
    },
  },
  {
    // Tests and benches take apart raw Debezium documents, JSON fixtures and thrown errors, whose
    // shape is the thing under test; src/ stays free of `any`.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  prettier,
);
