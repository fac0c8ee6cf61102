/** Keyboard navigation of the viewer (ignored while typing in a form field):
 * ↑/↓ one axial slice (with Shift ten), PageUp/PageDown twenty, Home/End the
 * series ends, ←/→ the sagittal plane, window presets by letter, level presets
 * by digit, [ and ] the previous / next level, c the Grad-CAM. */

import { WINDOW_PRESETS, type WindowPreset } from "../viewer/windowPresets";

export interface KeyboardActions {
  slice(): number;
  sliceCount(): number;
  setSlice(index: number): void;
  moveSagittal(steps: number): void;
  setWindow(preset: WindowPreset): void;
  jumpToLevel(level: string): void;
  stepLevel(direction: -1 | 1): void;
  toggleCam(): void;
}

/** Level presets (the sarcopenia levels, L3 first) and their digit keys. */
export const LEVEL_PRESETS: readonly (readonly [level: string, key: string])[] = [
  ["L3", "3"],
  ["T4", "4"],
  ["T7", "7"],
  ["T8", "8"],
  ["T10", "0"],
  ["T12", "2"],
];
const LEVEL_BY_KEY = new Map(LEVEL_PRESETS.map(([level, key]) => [key, level]));

export function bindKeyboard(target: HTMLElement | Document, actions: KeyboardActions): () => void {
  const handler = (event: Event): void => {
    const key = event as KeyboardEvent;
    const field = (key.target as HTMLElement | null)?.closest?.("input, textarea, select");
    if (field || key.ctrlKey || key.metaKey || key.altKey) return;
    if (handle(key, actions)) key.preventDefault();
  };
  target.addEventListener("keydown", handler);
  return () => target.removeEventListener("keydown", handler);
}

export function handle(key: Pick<KeyboardEvent, "key" | "shiftKey">, actions: KeyboardActions): boolean {
  const step = key.shiftKey ? 10 : 1;
  const preset = WINDOW_PRESETS.find((p) => p.key === key.key);
  switch (key.key) {
    case "ArrowUp":
      actions.setSlice(actions.slice() - step);
      return true;
    case "ArrowDown":
      actions.setSlice(actions.slice() + step);
      return true;
    case "PageUp":
      actions.setSlice(actions.slice() - 20);
      return true;
    case "PageDown":
      actions.setSlice(actions.slice() + 20);
      return true;
    case "Home":
      actions.setSlice(0);
      return true;
    case "End":
      actions.setSlice(actions.sliceCount() - 1);
      return true;
    case "ArrowLeft":
      actions.moveSagittal(-step);
      return true;
    case "ArrowRight":
      actions.moveSagittal(step);
      return true;
    case "[":
      actions.stepLevel(-1);
      return true;
    case "]":
      actions.stepLevel(1);
      return true;
    case "c":
      actions.toggleCam();
      return true;
  }
  if (preset) {
    actions.setWindow(preset);
    return true;
  }
  const level = LEVEL_BY_KEY.get(key.key);
  if (level) {
    actions.jumpToLevel(level);
    return true;
  }
  return false;
}
