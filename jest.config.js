const fs = require('fs');
const swcConfig = JSON.parse(fs.readFileSync(`${__dirname}/.swcrc`, 'utf8'));

const moduleNameMapper = { '^@pushmail/([a-z-]+)$': '<rootDir>/libs/$1/src' };
const transform = { '^.+\\.ts$': ['@swc/jest', { ...swcConfig, swcrc: false }] };
const common = { rootDir: __dirname, testEnvironment: 'node', moduleNameMapper, transform, moduleFileExtensions: ['ts', 'js', 'json'] };

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/apps/*/src/**/*.spec.ts', '<rootDir>/libs/*/src/**/*.spec.ts', '<rootDir>/scripts/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/apps/*/test/**/*.int-spec.ts', '<rootDir>/test/**/*.int-spec.ts', '<rootDir>/libs/*/test/**/*.int-spec.ts'],
      globalSetup: '<rootDir>/libs/testing/src/global-setup.ts',
      globalTeardown: '<rootDir>/libs/testing/src/global-teardown.ts',
      testTimeout: 60000,
      slowTestThreshold: 30,
    },
  ],
};
