/** The series' labels as the page shows them: the server's answer, which
 * track the bands come from, and the derived ranges. Changes go out as events. */

import type { LabelTrack, SeriesLabels } from "../api/labels";
import { Emitter } from "../ui/emitter";
import { normaliseModelRanges, rangesFromLabels, type LevelRange, type SliceLabel } from "./ranges";

export type BandSource = "model" | `track:${number}`;

export interface LabelsEvents extends Record<string, unknown> {
  changed: SeriesLabels;
  source: BandSource;
}

export class LabelsState extends Emitter<LabelsEvents> {
  data: SeriesLabels | null = null;
  source: BandSource = "model";

  set(data: SeriesLabels): void {
    const first = this.data === null;
    this.data = data;
    if (first || !this.sourceExists(this.source)) this.source = defaultSource(data);
    this.emit("changed", data);
  }

  /** A track came back from an edit or undo: replace it in place. */
  updateTrack(track: LabelTrack): void {
    if (!this.data) return;
    const tracks = this.data.tracks.filter((t) => t.id !== track.id).concat(track);
    this.set({ ...this.data, tracks, mine: this.data.mine ?? track.id });
    this.setSource(`track:${track.id}`);
  }

  setSource(source: BandSource): void {
    this.source = source;
    this.emit("source", source);
  }

  get mine(): LabelTrack | undefined {
    return this.data?.tracks.find((track) => track.id === this.data?.mine);
  }

  /** Labels a correction starts from: my track, else the model's levels. */
  baseLabels(): SliceLabel[] {
    const mine = this.mine;
    if (mine) return mine.labels;
    return this.data?.model?.slice_levels ?? Array.from({ length: this.data?.slice_count ?? 0 }, () => null);
  }

  ranges(): LevelRange[] {
    const data = this.data;
    if (!data) return [];
    if (this.source === "model") return data.model ? normaliseModelRanges(data.model.ranges) : [];
    const id = Number(this.source.slice("track:".length));
    const track = data.tracks.find((t) => t.id === id);
    return track ? rangesFromLabels(track.labels) : [];
  }

  private sourceExists(source: BandSource): boolean {
    if (source === "model") return Boolean(this.data?.model);
    return Boolean(this.data?.tracks.some((t) => `track:${t.id}` === source));
  }
}

function defaultSource(data: SeriesLabels): BandSource {
  if (data.mine !== null && data.tracks.some((t) => t.id === data.mine)) return `track:${data.mine}`;
  if (data.model) return "model";
  const track = data.tracks[0];
  return track ? `track:${track.id}` : "model";
}
