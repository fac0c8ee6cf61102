import { describe, expect, it } from "vitest";
import { firstPassSops, pageGeometry, prefetchInstances } from "./firstPass";
import { seriesGeometry, type DicomJson } from "./geometry";
import { FIRST_PASS_SLICES } from "./memoryBudget";

const instance = (uid: string, z: number): DicomJson => ({
  "00080018": { vr: "UI", Value: [uid] },
  "00200032": { vr: "DS", Value: [0, 0, z] },
  "00200037": { vr: "DS", Value: [1, 0, 0, 0, 1, 0] },
  "00280010": { vr: "US", Value: [512] },
  "00280011": { vr: "US", Value: [512] },
  "00280030": { vr: "DS", Value: [0.7, 0.7] },
});

describe("firstPassSops", () => {
  it("spans the whole series, both ends included, about FIRST_PASS_SLICES slices", () => {
    const geometry = seriesGeometry(Array.from({ length: 500 }, (_, i) => instance(`s${i}`, -i)));
    const sops = firstPassSops(geometry);
    expect(new Set(sops).size).toBe(sops.length);
    expect(sops.length).toBeGreaterThanOrEqual(FIRST_PASS_SLICES);
    expect(sops.length).toBeLessThanOrEqual(FIRST_PASS_SLICES + 2);
    expect(sops).toContain("s0");
    expect(sops).toContain("s499");
  });
});

describe("pageGeometry", () => {
  it("gives the same first pass as the full metadata, from the page's slice list and shape", () => {
    const items = Array.from({ length: 500 }, (_, i) => instance(`s${i}`, -1.25 * i));
    const known = {
      sopInstanceUids: items.map((_, i) => `s${i}`),
      positionsMm: items.map((_, i) => -1.25 * i),
      shape: { rows: 512, columns: 512, orientation: [1, 0, 0, 0, 1, 0] },
    };
    expect(firstPassSops(pageGeometry(known)!)).toEqual(firstPassSops(seriesGeometry(items)));
    const feetFirst = { ...known, shape: { ...known.shape, orientation: [-1, 0, 0, 0, 1, 0] } };
    expect(firstPassSops(pageGeometry(feetFirst)!)).not.toEqual(firstPassSops(pageGeometry(known)!));
  });

  it("declines without a shape or for a series that is not axial", () => {
    const known = { sopInstanceUids: ["a", "b"], positionsMm: [0, -1] };
    expect(pageGeometry(known)).toBeNull();
    expect(pageGeometry({ ...known, shape: { rows: 4, columns: 4, orientation: [0, 1, 0, 0, 0, -1] } })).toBeNull();
  });
});

describe("prefetchInstances", () => {
  it("requests every instance at once and hands each over once", async () => {
    const started: string[] = [];
    const fetchOne = async (_root: string, sop: string): Promise<Uint8Array> => {
      started.push(sop);
      await new Promise((resolve) => setTimeout(resolve, 1));
      return new Uint8Array([sop.length]);
    };
    const sops = Array.from({ length: 16 }, (_, i) => `sop${i}`);
    const take = prefetchInstances("/dicomweb/s", sops, fetchOne);
    expect(started).toEqual(sops); // in the order asked, none waiting for the page
    expect(Array.from((await take("sop12"))!)).toEqual([5]);
    expect(take("sop12")).toBeUndefined(); // handed over once, then forgotten
    expect(take("other")).toBeUndefined();
  });

  it("reports a failed request where the bytes are taken", async () => {
    const take = prefetchInstances("/dicomweb/s", ["a"], () => Promise.reject(new Error("HTTP 403")));
    await expect(take("a")).rejects.toThrow("HTTP 403");
  });
});
