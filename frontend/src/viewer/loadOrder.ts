/** Progressive loading of the sagittal volume: a coarse pass of evenly spread
 * slices first (enough for a first sagittal image), then passes that halve the
 * gaps, each slice once. Unloaded slices show their nearest loaded neighbour. */

/** Passes of slice indices, the first about `firstPass` slices long. */
export function progressivePasses(count: number, firstPass = 48): number[][] {
  if (count <= 0) return [];
  const seen = new Uint8Array(count);
  const passes: number[][] = [];
  let stride = Math.max(1, Math.ceil(count / firstPass));
  for (;;) {
    const pass: number[] = [];
    for (let i = 0; i < count; i += stride) {
      if (!seen[i]) {
        seen[i] = 1;
        pass.push(i);
      }
    }
    if (passes.length === 0 && !seen[count - 1]) {
      seen[count - 1] = 1; // the far end too, so the first image spans the series
      pass.push(count - 1);
    }
    if (pass.length) passes.push(pass);
    if (stride === 1) break;
    stride = Math.max(1, Math.floor(stride / 4));
  }
  return passes;
}

/** For each slice, the nearest loaded slice (itself when loaded); -1 when none is. */
export function nearestLoaded(loaded: ArrayLike<number | boolean>): Int32Array {
  const n = loaded.length;
  const out = new Int32Array(n).fill(-1);
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (loaded[i]) last = i;
    out[i] = last;
  }
  let next = -1;
  for (let i = n - 1; i >= 0; i--) {
    if (loaded[i]) next = i;
    const prev = out[i]!;
    if (next >= 0 && (prev < 0 || next - i < i - prev)) out[i] = next;
  }
  return out;
}

/** Run `task` over `items` with at most `limit` in flight, in order of start. */
export async function runLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
