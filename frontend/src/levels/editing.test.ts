import { describe, expect, it } from "vitest";
import { applyEdit, boundaries, boundaryMoveEdit, describeEdit, rangeEdit } from "./editing";
import type { SliceLabel } from "./ranges";
import { UndoStack } from "./undoStack";

const labels: SliceLabel[] = ["L2", "L2", "L2", "L3", "L3", "L3", "L3", "L4", "L4"];

describe("range editing", () => {
  it("assigns a label to an inclusive range, in either order, clamped", () => {
    expect(rangeEdit(5, 2, "disc", 9)).toEqual({ start: 2, end: 5, label: "disc" });
    expect(rangeEdit(-3, 20, null, 9)).toEqual({ start: 0, end: 8, label: null });
    const edited = applyEdit(labels, { start: 2, end: 3, label: "disc" });
    expect(edited).toEqual(["L2", "L2", "disc", "disc", "L3", "L3", "L3", "L4", "L4"]);
    expect(labels[2]).toBe("L2"); // the input is not changed
  });

  it("finds boundaries between touching runs only", () => {
    expect(boundaries(labels)).toEqual([
      { at: 3, above: "L2", below: "L3" },
      { at: 7, above: "L3", below: "L4" },
    ]);
    expect(boundaries(["L2", null, "L3"])).toEqual([]);
  });

  it("moves a boundary up: the lower level grows", () => {
    const [b] = boundaries(labels);
    const edit = boundaryMoveEdit(labels, b!, 1);
    expect(edit).toEqual({ start: 1, end: 2, label: "L3" });
    expect(applyEdit(labels, edit!).slice(0, 4)).toEqual(["L2", "L3", "L3", "L3"]);
  });

  it("moves a boundary down: the upper level grows", () => {
    const b = boundaries(labels)[1]!;
    expect(boundaryMoveEdit(labels, b, 8)).toEqual({ start: 7, end: 7, label: "L3" });
  });

  it("refuses no-op moves and moves that swallow a neighbour", () => {
    const b = boundaries(labels)[0]!;
    expect(boundaryMoveEdit(labels, b, 3)).toBeNull();
    expect(boundaryMoveEdit(labels, b, 0)).toBeNull(); // L2 would vanish
    expect(boundaryMoveEdit(labels, b, 6)).toEqual({ start: 3, end: 5, label: "L2" });
    expect(boundaryMoveEdit(labels, b, 7)).toBeNull(); // L3 would vanish
  });

  it("describes edits in 1-based slice numbers", () => {
    expect(describeEdit({ start: 0, end: 4, label: "L3" })).toBe("slices 1–5 → L3");
    expect(describeEdit({ start: 2, end: 2, label: "disc" })).toBe("mark slice 3 as disc");
    expect(describeEdit({ start: 2, end: 3, label: null })).toBe("clear slices 3–4");
  });
});

describe("UndoStack", () => {
  it("pops newest first and stays bounded", () => {
    const stack = new UndoStack<number>(3);
    [1, 2, 3, 4].forEach((n) => stack.push(n));
    expect(stack.size).toBe(3);
    expect(stack.peek()).toBe(4);
    expect([stack.pop(), stack.pop(), stack.pop(), stack.pop()]).toEqual([4, 3, 2, undefined]);
    stack.push(5);
    stack.clear();
    expect(stack.size).toBe(0);
  });
});

describe("history lines", async () => {
  const { historyLine } = await import("../ui/labelPanel");
  it("names who, when and what, as text", () => {
    const line = historyLine({ author: "ann", at: "2026-11-25T16:45:34Z", operation: "assign", start: 5, end: 7, label: "disc" });
    expect(line).toBe("2026-11-25 16:45 ann: mark slices 6–8 as disc");
    expect(historyLine({ author: "ann", at: "", operation: "undo", comment: "<b>x</b>" })).toBe("ann: undo of the previous edit “<b>x</b>”");
  });
});
