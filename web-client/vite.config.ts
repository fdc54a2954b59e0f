import { defineConfig } from 'vitest/config'

// The server serves dist/index.html for every non-API GET (/, /room/{id}, /submissions/{id}), so asset
// URLs must be absolute: base '/'.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      output: {
        // Each language loads on demand; name its chunk after it rather than after its package's dist/.
        chunkFileNames(chunk) {
          const m = /@codemirror\/lang-(\w+)\//.exec(chunk.facadeModuleId ?? '')
          return m ? `assets/lang-${m[1]}-[hash].js` : 'assets/[name]-[hash].js'
        },
      },
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
})
