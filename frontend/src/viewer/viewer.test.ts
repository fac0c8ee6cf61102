import { describe, expect, it } from "vitest";
import { buildLut, colourise, JET } from "./colormap";
import { downsampleInto, planDecimation } from "./decimation";
import { nearestSlice, seriesGeometry, volumeFrames, volumeGeometry, type DicomJson } from "./geometry";
import { nearestLoaded, progressivePasses, runLimited } from "./loadOrder";

const MiB = 1 << 20;

describe("planDecimation", () => {
  it("keeps a small series whole", () => {
    const plan = planDecimation({ rows: 256, columns: 256, slices: 100 }, 64 * MiB);
    expect(plan).toMatchObject({ rowStep: 1, columnStep: 1, sliceStep: 1, bytes: 256 * 256 * 100 * 4 });
  });

  it("fits 500 and 1,500 slices of 512² into 64 MiB, thinning columns first and never slices", () => {
    const p500 = planDecimation({ rows: 512, columns: 512, slices: 500 }, 64 * MiB);
    expect(p500).toMatchObject({ rowStep: 2, columnStep: 4, sliceStep: 1, rows: 256, columns: 128 });
    const p1500 = planDecimation({ rows: 512, columns: 512, slices: 1500 }, 64 * MiB);
    expect(p1500.bytes).toBeLessThanOrEqual(64 * MiB);
    expect(p1500.sliceStep).toBe(1);
    expect(p1500.columnStep).toBeGreaterThanOrEqual(p1500.rowStep);
    expect(p1500.rows).toBeGreaterThanOrEqual(128);
  });

  it("thins slices once rows reach their minimum, and respects the 3D texture limit", () => {
    const plan = planDecimation({ rows: 512, columns: 512, slices: 5000 }, 16 * MiB);
    expect(plan.bytes).toBeLessThanOrEqual(16 * MiB);
    expect(plan.sliceStep).toBeGreaterThan(1);
    expect(plan.slices).toBeLessThanOrEqual(2048);
  });
});

describe("downsampleInto", () => {
  it("block-averages, including ragged edge blocks", () => {
    const src = Int16Array.from([1, 3, 5, 7, 9, 11, 13, 15, 17]); // 3×3
    const dest = new Int16Array(4);
    downsampleInto(src, 3, 3, 2, 2, dest);
    expect(Array.from(dest)).toEqual([5, 8, 14, 17]);
  });

  it("rescales the means as rescaling every pixel first would", () => {
    const src = Int16Array.from([1, 3, 5, 7, 9, 11, 13, 15, 17]); // 3×3
    const fused = new Int16Array(4);
    downsampleInto(src, 3, 3, 2, 2, fused, 2, -1024);
    const first = new Int16Array(4);
    downsampleInto(Float32Array.from(src, (v) => v * 2 - 1024), 3, 3, 2, 2, first);
    expect(Array.from(fused)).toEqual(Array.from(first));
    expect(Array.from(fused)).toEqual([-1014, -1008, -996, -990]);
  });

  it("clamps to int16", () => {
    const dest = new Int16Array(1);
    downsampleInto(Float32Array.from([40000]), 1, 1, 1, 1, dest);
    expect(dest[0]).toBe(32767);
  });
});

describe("progressive loading", () => {
  it("covers every slice exactly once, coarse first, both ends in the first pass", () => {
    const passes = progressivePasses(500, 48);
    expect(passes[0]!.length).toBeLessThanOrEqual(50);
    expect(passes[0]).toContain(0);
    expect(passes[0]).toContain(499);
    const all = passes.flat();
    expect(new Set(all).size).toBe(500);
    expect(all).toHaveLength(500);
    expect(progressivePasses(10, 48)).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    expect(progressivePasses(0)).toEqual([]);
  });

  it("fills unloaded slices from the nearest loaded one", () => {
    expect(Array.from(nearestLoaded([0, 1, 0, 0, 0, 1, 0]))).toEqual([1, 1, 1, 1, 5, 5, 5]);
    expect(Array.from(nearestLoaded([0, 0]))).toEqual([-1, -1]);
  });

  it("runs tasks with bounded concurrency", async () => {
    let active = 0;
    let peak = 0;
    const done: number[] = [];
    await runLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, 1));
      done.push(n);
      active--;
    });
    expect(peak).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe("geometry", () => {
  const instance = (uid: string, z: number): DicomJson => ({
    "00080018": { Value: [uid] },
    "00200032": { Value: [-100, -120, z] },
    "00200037": { Value: [1, 0, 0, 0, 1, 0] },
    "00280010": { Value: [4] },
    "00280011": { Value: [6] },
    "00280030": { Value: [0.5, 0.75] },
  });

  it("orders slices superior first and stacks the volume along the normal", () => {
    const geometry = seriesGeometry([instance("b", -5), instance("a", 0), instance("c", -10)]);
    expect(geometry.slices.map((s) => s.sopInstanceUid)).toEqual(["a", "b", "c"]);
    expect(geometry.sliceSpacing).toBe(5);
    expect(geometry.normal).toEqual([0, 0, 1]);
    const frames = volumeFrames(geometry, 1);
    expect(frames).toEqual([2, 1, 0]); // inferior first: increasing z
    const plan = { rowStep: 2, columnStep: 3, sliceStep: 1, rows: 2, columns: 2, slices: 3, bytes: 24 };
    const volume = volumeGeometry(geometry, plan, frames);
    expect(volume.dimensions).toEqual([2, 2, 3]);
    expect(volume.spacing).toEqual([2.25, 1, 5]);
    expect(volume.origin).toEqual([-100 + 0.75, -120 + 0.25, -10]);
    expect(nearestSlice(geometry, -6)).toBe(1);
  });

  it("refuses a series without orientation", () => {
    expect(() => seriesGeometry([{}])).toThrow(/orientation/);
    expect(() => seriesGeometry([])).toThrow(/no instances/);
  });
});

describe("colour map", () => {
  it("interpolates the stops and makes cold pixels transparent", () => {
    const lut = buildLut(JET);
    expect(Array.from(lut.slice(0, 3))).toEqual([0, 0, 128]);
    expect(Array.from(lut.slice(255 * 3))).toEqual([128, 0, 0]);
    const rgba = Uint8ClampedArray.from([0, 0, 0, 255, 255, 255, 255, 255]);
    colourise(rgba, lut);
    expect(rgba[3]).toBe(0);
    expect(Array.from(rgba.slice(4))).toEqual([128, 0, 0, 255]);
  });
});

describe("spineColumn", async () => {
  const { spineColumn } = await import("./spineColumn");
  it("finds the bony column near the midline, not a lateral rib", () => {
    const [columns, rows, slices] = [20, 10, 8];
    const data = new Int16Array(columns * rows * slices).fill(-100);
    for (let k = 0; k < slices; k++) {
      for (let r = 2; r < 8; r++) data[k * rows * columns + r * columns + 11] = 600; // spine
      for (let r = 0; r < 7; r++) data[k * rows * columns + r * columns + 1] = 600; // a rib, lateral
    }
    expect(spineColumn(data, [columns, rows, slices], 1)).toBe(11);
  });
});
