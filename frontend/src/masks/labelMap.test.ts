import { describe, expect, it } from "vitest";
import { colourise, decodeMask, emptyMap, encodeMask, labelCounts, paintDisc, paintStroke, TISSUES } from "./labelMap";

describe("brush and eraser", () => {
  it("paints a disc of the given radius, clipped at the edges", () => {
    const map = emptyMap(20, 20);
    expect(paintDisc(map, 10, 10, 2, 1)).toBe(13); // centres within 2 px: 1+3+5+3+1
    expect(labelCounts(map)[1]).toBe(13);
    expect(paintDisc(map, 10, 10, 2, 1)).toBe(0); // nothing new
    const corner = emptyMap(20, 20);
    expect(paintDisc(corner, 0, 0, 2, 3)).toBe(6); // a quarter disc only
  });

  it("erases with 0 and refuses labels outside 0..4", () => {
    const map = emptyMap(10, 10);
    paintDisc(map, 5, 5, 3, 2);
    paintDisc(map, 5, 5, 1, 0);
    expect(map.data[5 * 10 + 5]).toBe(0);
    expect(map.data[5 * 10 + 7]).toBe(2);
    expect(() => paintDisc(map, 5, 5, 1, 5)).toThrow(RangeError);
  });

  it("leaves no gaps along a fast stroke", () => {
    const map = emptyMap(10, 60);
    paintStroke(map, [5, 2], [5, 57], 1, 4);
    for (let x = 2; x <= 57; x++) expect(map.data[5 * 60 + x]).toBe(4);
    expect(map.data[0]).toBe(0);
  });
});

describe("codec and colours", () => {
  it("round-trips and reads Python's zlib encoding", async () => {
    const map = emptyMap(3, 4);
    map.data.set([0, 1, 2, 3, 4, 0, 0, 1, 1, 1, 0, 4]);
    const encoded = await encodeMask("1.2.3", map);
    expect(encoded.shape).toEqual([3, 4]);
    expect([...(await decodeMask(encoded)).data]).toEqual([...map.data]);
    // base64(zlib.compress(bytes([0, 1, 2, 3, 4, 0, 0, 1, 1, 1, 0, 4]))) in Python:
    const fromPython = { sop_instance_uid: "1.2.3", shape: [3, 4] as [number, number], data: "eJxjYGRiZmFgYGRkZGABAAB2ABI=" };
    expect([...(await decodeMask(fromPython)).data]).toEqual([...map.data]);
    await expect(decodeMask({ ...fromPython, shape: [4, 4] })).rejects.toThrow(/does not match/);
  });

  it("colours tissues and leaves the background transparent", () => {
    const map = emptyMap(1, 2);
    map.data.set([0, 1]);
    const rgba = colourise(map);
    expect([...rgba.slice(0, 4)]).toEqual([0, 0, 0, 0]);
    expect([...rgba.slice(4, 8)]).toEqual([...TISSUES[0].rgb, 255]);
  });
});
