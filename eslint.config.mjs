import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';
import globals from 'globals';
import regexpPlugin from 'eslint-plugin-regexp';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'libs/client/web/dist/**', 'bench/results/**', '.pushmail/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { import: importPlugin },
    languageOptions: { globals: { ...globals.node, ...globals.jest } },
    settings: { 'import/resolver': { typescript: false, node: true } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': ['error', { patterns: [{ group: ['../../libs/*', '../../../libs/*'], message: 'import libs through @pushmail/<lib>' }] }],
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.name='forwardRef']", message: 'forwardRef hides an import cycle; untangle the modules' }],
    },
  },
  {
    // Mail, headers and CSS come from strangers: a regex that backtracks super-linearly on them lets
    // one message stall a parser thread (issue 14). Rewrite such a pattern; do not silence the rule.
    files: ['apps/**/*.{ts,tsx}', 'libs/**/*.{ts,tsx}'],
    plugins: { regexp: regexpPlugin },
    rules: {
      'regexp/no-super-linear-backtracking': 'error',
      'regexp/no-super-linear-move': 'error',
    },
  },
  {
    // Test fakes and servers stay out of what the apps run: only specs, `*.fake.ts` helpers and
    // the test trees import libs/testing (tsconfig.build.json leaves the same files out).
    files: ['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/*.fake.ts', 'libs/testing/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: '@pushmail/testing', message: 'test fakes and servers are for specs, *.fake.ts helpers and test/ only' }],
          patterns: [{ group: ['../../libs/*', '../../../libs/*'], message: 'import libs through @pushmail/<lib>' }],
        },
      ],
    },
  },
  {
    files: ['libs/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@nestjs/*', 'ioredis', 'bullmq', 'imapflow', 'node:*', 'socket.io*', 'nodemailer'], message: 'contracts hold types and schemas only: no Nest, no I/O' }] }],
    },
  },
);
