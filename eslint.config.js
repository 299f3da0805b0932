// Type-checked strict lint (the style of FiloSottile/typage); `npm run lint`, run by `npm test`.
// Deviations from the presets are listed below, each with its reason.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { defineConfig } from 'eslint/config';

/**
 * Modules talk through their index.ts: an import that reaches into another
 * module's files (scripts/lib/<module>/<file> other than index.js) is an error;
 * a single-file module (errors.ts, names.ts, clock.ts, base64.ts) is its own
 * index. Specifiers are relative, so each directory depth gets its own
 * expression (`up`: the way from a file to scripts/lib). Static imports and
 * re-exports go through no-restricted-imports, `import()` expressions and
 * `import('…')` types through no-restricted-syntax. Tests and benchmarks may
 * reach inside a module: they test and measure its parts.
 *
 * `extra` adds a folder's own limits: the life cycle's core/ is pure (no node:
 * modules, nothing from engine/ or effects/), its engine/ reaches the world
 * only through the ports (nothing from effects/, no node: modules).
 */
const THROUGH_INDEX = "import another module through its index.ts (export what is needed there)";
function moduleBoundaries(files, up, extra = []) {
  const restricted = [{ regex: `^${up}[^./][^/]*/(?!index\\.js$).+`, message: THROUGH_INDEX }, ...extra];
  // esquery regex literals end at the first '/': spell it \x2F there.
  const selector = (node, field, regex) => `${node}[${field}=/${regex.replaceAll('/', '\\x2F')}/]`;
  return {
    files,
    ...(up.includes('lib/') ? { ignores: ['scripts/lib/**'] } : {}),
    rules: {
      'no-restricted-imports': ['error', { patterns: restricted }],
      'no-restricted-syntax': [
        'error',
        ...restricted.flatMap(({ regex, message }) => [
          { selector: selector('ImportExpression', 'source.value', regex), message },
          { selector: selector('TSImportType', 'argument.literal.value', regex), message },
        ]),
      ],
    },
  };
}
const PURE = 'lifecycle/core is pure: no I/O, and nothing from engine/ or effects/';
const PORTS_ONLY = 'lifecycle/engine reaches the world only through the ports of core/types.ts';

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
  moduleBoundaries(['scripts/lib/*.ts'], '\\./'),
  moduleBoundaries(['scripts/lib/*/*.ts'], '\\.\\./'),
  moduleBoundaries(['scripts/lib/*/*/*.ts'], '(\\.\\./){2}'),
  moduleBoundaries(['scripts/lib/lifecycle/core/*.ts'], '(\\.\\./){2}', [
    { regex: '^node:', message: PURE },
    { regex: '^\\.\\./(engine|effects)/', message: PURE },
  ]),
  moduleBoundaries(['scripts/lib/lifecycle/engine/*.ts'], '(\\.\\./){2}', [
    { regex: '^node:', message: PORTS_ONLY },
    { regex: '^\\.\\./effects/', message: PORTS_ONLY },
  ]),
  moduleBoundaries(['scripts/lib/*/*/*/*.ts'], '(\\.\\./){3}'),
  moduleBoundaries(['scripts/*/*.{ts,mjs}'], '\\.\\./lib/'),
  moduleBoundaries(['scripts/*/*/*.{ts,mjs}'], '(\\.\\./){2}lib/'),
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
