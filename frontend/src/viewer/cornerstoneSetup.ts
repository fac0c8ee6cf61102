/** One-time set-up of cornerstone3D: core, the DICOM image loader (WADO-RS
 * through the platform proxy, decoding in web workers), tools, and the cache
 * cap that bounds memory. */

import { cache, init as initCore } from "@cornerstonejs/core";
import { init as initLoader } from "@cornerstonejs/dicom-image-loader";
import {
  addTool,
  init as initTools,
  PanTool,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
} from "@cornerstonejs/tools";
import { AXIAL_CACHE_BYTES, SAGITTAL_VOLUME_BYTES } from "./memoryBudget";

let ready = false;

export function setUpCornerstone(): void {
  if (ready) return;
  initCore();
  // Two decode workers at most: the decoders are CPU-bound and the page has other work.
  initLoader({ maxWebWorkers: Math.max(1, Math.min(2, navigator.hardwareConcurrency || 1)) });
  initTools();
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool]) addTool(tool);
  // The sagittal volume's slice images are pinned in the cache (shared with the
  // volume); axial images fill the rest and are evicted least recently used first.
  cache.setMaxCacheSize(SAGITTAL_VOLUME_BYTES + AXIAL_CACHE_BYTES);
  ready = true;
}
