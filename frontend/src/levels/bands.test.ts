import { describe, expect, it } from "vitest";
import { bandAtY, caption, layoutBands } from "./bands";
import { findLevel, normaliseModelRanges, rangeAt, rangesFromLabels } from "./ranges";
import { levelColour } from "./vocabulary";

describe("rangesFromLabels", () => {
  it("turns per-slice labels into runs, skipping unlabelled slices", () => {
    const ranges = rangesFromLabels(["T12", "T12", null, "disc", "L1", "L1", "L1"]);
    expect(ranges.map((r) => [r.level, r.start, r.end, r.mid])).toEqual([
      ["T12", 0, 1, 0],
      ["disc", 3, 3, 3],
      ["L1", 4, 6, 5],
    ]);
  });

  it("handles empty and single-slice series", () => {
    expect(rangesFromLabels([])).toEqual([]);
    expect(rangesFromLabels(["L3"])).toHaveLength(1);
  });
});

describe("normaliseModelRanges", () => {
  it("accepts start/end and the decoder's first/last, sorted, dropping junk", () => {
    const ranges = normaliseModelRanges([
      { level: "L3", first: 10, last: 19, mid: 15, confidence: 0.9 },
      { level: "L2", start: 0, end: 9, confidence: 0.8 },
      { level: "L4", start: 30, end: 20 },
      { start: 1, end: 2 },
    ]);
    expect(ranges.map((r) => [r.level, r.start, r.end, r.mid, r.confidence])).toEqual([
      ["L2", 0, 9, 4, 0.8],
      ["L3", 10, 19, 15, 0.9],
    ]);
    expect(findLevel(ranges, "L3")?.mid).toBe(15);
    expect(rangeAt(ranges, 9)?.level).toBe("L2");
    expect(rangeAt(ranges, 25)).toBeUndefined();
  });
});

describe("layoutBands", () => {
  const ranges = normaliseModelRanges([
    { level: "L2", start: 0, end: 9, confidence: 0.81 },
    { level: "L3", start: 10, end: 10, confidence: 0.5 },
    { level: "L4", start: 11, end: 40, confidence: 0.99 },
  ]);

  it("places each range between its slice edges and captions thick bands", () => {
    const bands = layoutBands(ranges, (s) => 100 + s * 4, 1000);
    expect(bands[0]).toMatchObject({ top: 98, bottom: 138, caption: "L2 81 %" });
    expect(bands[1]).toMatchObject({ top: 138, bottom: 142, caption: "" }); // 4 px: too thin for text
    expect(bands[0]!.colour).toEqual(levelColour("L2"));
    expect(bandAtY(bands, 150)?.range.level).toBe("L4");
    expect(bandAtY(bands, 10)).toBeUndefined();
  });

  it("clips to the canvas and drops bands out of view, whichever way y runs", () => {
    const bands = layoutBands(ranges, (s) => 500 - s * 20, 300);
    expect(bands.map((b) => b.range.level)).toEqual(["L3", "L4"]);
    expect(bands[0]).toMatchObject({ top: 290, bottom: 300 });
    expect(bands[1]).toMatchObject({ top: 0, bottom: 290 });
  });

  it("captions human and disc ranges without a confidence", () => {
    expect(caption({ level: "disc", start: 0, end: 1, mid: 0, confidence: null })).toBe("disc");
    expect(caption({ level: "T7", start: 0, end: 1, mid: 0, confidence: null })).toBe("T7");
  });

  it("gives neighbouring levels different colours", () => {
    expect(levelColour("L2")).not.toEqual(levelColour("L3"));
    expect(levelColour("T11")).not.toEqual(levelColour("T12"));
  });
});
