import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The Parley edge serves REST under /api/v1 and the WebSocket at /ws on the
// same origin. In development Vite proxies both to a locally running edge.
const backend = process.env.PARLEY_BACKEND ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target: backend, changeOrigin: true },
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: true,
  },
  test: {
    environment: 'happy-dom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
  },
});
