import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
/** Where `npm run dev:web` proxies the API and the socket (a gateway from `npm start`). */
const gateway = process.env.PUSHMAIL_GATEWAY_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  root,
  base: '/',
  // The gateway serves this folder at `/` (with an SPA fallback).
  build: { outDir: `${repo}/dist/web`, emptyOutDir: true, sourcemap: true, target: 'es2022' },
  resolve: {
    alias: {
      '@pushmail/client': `${repo}/libs/client/src`,
      '@pushmail/contracts': `${repo}/libs/contracts/src`,
    },
  },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  server: {
    proxy: {
      '/api': gateway,
      '/socket.io': { target: gateway, ws: true },
    },
  },
});
