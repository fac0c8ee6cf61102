// Builds the viewer into dist/ for Django: no index.html, one entry, a manifest
// (dist/.vite/manifest.json) that the `vite_assets` template tag reads to emit
// the hashed <script>/<link> tags. Django serves dist/ under /static/viewer/.
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "/static/viewer/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    sourcemap: false,
    chunkSizeWarningLimit: 6000, // cornerstone3D + vtk.js are one large chunk by nature
    rollupOptions: { input: "src/main.ts" },
  },
  // The DICOM decoders run in module workers that import the codec wasm.
  worker: { format: "es" },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
