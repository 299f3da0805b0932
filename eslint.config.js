// Type-checked strict lint (the style of FiloSottile/typage); `npm run lint`, run by `npm test`.
// Deviations from the presets are listed below, each with its reason.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { defineConfig } from 'eslint/config';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.demo/', 'test/fixtures/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // tsconfig.json includes the .mjs/.js files too (allowJs, not checkJs), so they get type information.
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Numbers print unambiguously in messages; everything else must be a string already.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `return send(...)` as an early exit from a void function and `() => f()` callbacks are idioms; void values used as data still fail.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true }],
      // A leading underscore marks a binding that is unused on purpose (omitted by destructuring, required by an interface).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // `() => {}` is the idiomatic no-op callback (a swallowed rejection, a default listener); empty functions and methods still fail.
      '@typescript-eslint/no-empty-function': ['error', { allow: ['arrowFunctions'] }],
    },
  },
  {
    files: ['**/*.ts'],
    // TypeScript itself reports undefined names (typescript-eslint's advice).
    rules: { 'no-undef': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: globals.node },
    // Untyped JavaScript: every value is `any`, so these rules would flag each use; the other type-aware rules stay.
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/restrict-plus-operands': 'off',
    },
  },
  {
    files: ['test/**'],
    rules: {
      // Tests assert the shape first; `!` after such an assertion is the readable form.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Fakes implement the async ports with synchronous bodies.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['test/doubles/**'],
    // The API doubles end an async request handler with `return send(...)`, one reply per line.
    rules: { '@typescript-eslint/no-confusing-void-expression': 'off' },
  },
);
