import { describe, expect, it, vi } from "vitest";
import { handle, type KeyboardActions } from "./keyboard";

function actions(): KeyboardActions & { calls: string[] } {
  const calls: string[] = [];
  let slice = 10;
  return {
    calls,
    slice: () => slice,
    sliceCount: () => 100,
    setSlice: (i) => {
      slice = i;
      calls.push(`slice ${i}`);
    },
    moveSagittal: (n) => calls.push(`sagittal ${n}`),
    setWindow: (p) => calls.push(`window ${p.name}`),
    jumpToLevel: (l) => calls.push(`level ${l}`),
    stepLevel: (d) => calls.push(`step ${d}`),
    toggleCam: vi.fn(() => calls.push("cam")),
  };
}

describe("keyboard navigation", () => {
  it("maps keys to viewer actions", () => {
    const a = actions();
    const keys: [string, boolean][] = [["ArrowDown", false], ["ArrowUp", true], ["End", false], ["ArrowRight", true], ["b", false], ["3", false], ["0", false], ["]", false], ["c", false]];
    for (const [key, shiftKey] of keys) expect(handle({ key, shiftKey }, a)).toBe(true);
    expect(a.calls).toEqual(["slice 11", "slice 1", "slice 99", "sagittal 10", "window Bone", "level L3", "level T10", "step 1", "cam"]);
    expect(handle({ key: "x", shiftKey: false }, a)).toBe(false);
  });
});
