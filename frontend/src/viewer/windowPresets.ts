/** CT window presets (width/level in HU) and their hotkeys. */

export interface WindowPreset {
  name: string;
  key: string;
  width: number;
  level: number;
}

export const WINDOW_PRESETS: readonly WindowPreset[] = [
  { name: "Soft tissue", key: "s", width: 400, level: 40 },
  { name: "Bone", key: "b", width: 1800, level: 400 },
  { name: "Lung", key: "l", width: 1500, level: -600 },
];

export function voiRange(preset: WindowPreset): { lower: number; upper: number } {
  return { lower: preset.level - preset.width / 2, upper: preset.level + preset.width / 2 };
}
