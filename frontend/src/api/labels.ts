/** Labels, review and CAMs of a series (platform/analysis label API). */

import type { SchemeName } from "../levels/vocabulary";
import type { SliceLabel } from "../levels/ranges";
import { getBlob, getJson, postJson } from "./http";

export interface ModelLevels {
  levels_id: number;
  model_name: string;
  model_version: string;
  slice_levels: SliceLabel[];
  slice_confidence: (number | null)[];
  ranges: Record<string, unknown>[];
  flags: { code: string; message: string; level?: string | null }[];
  has_cams: boolean;
}

export interface LabelTrack {
  id: number;
  author: string;
  scheme: SchemeName;
  labels: SliceLabel[];
  revision: number;
  updated_at: string;
}

export type ReviewStatus = "open" | "submitted" | "verified" | "returned";

export interface Review {
  status: ReviewStatus;
  track: number | null;
  comment: string;
  by: string | null;
  at: string | null;
}

export interface Agreement {
  level: string;
  model_vs_human: number | null;
  between_labelers: number | null;
  slices: number;
}

export interface SeriesLabels {
  series: number;
  slice_count: number;
  slice_sop_instance_uids: string[];
  slice_positions_mm: number[];
  model: ModelLevels | null;
  tracks: LabelTrack[];
  mine: number | null;
  review: Review;
  locked: boolean;
  agreement: Agreement[];
  permissions: { label: boolean; review: boolean; view_images: boolean };
}

export interface HistoryEntry {
  [key: string]: unknown;
}

export class LabelsApi {
  constructor(
    private readonly apiRoot: string,
    readonly seriesId: number,
  ) {}

  private url(path: string): string {
    return `${this.apiRoot}/series/${this.seriesId}/labels/${path}`;
  }

  get(): Promise<SeriesLabels> {
    return getJson(this.url(""));
  }

  edit(edit: { base_revision: number; start: number; end: number; label: SliceLabel; scheme?: SchemeName }): Promise<LabelTrack> {
    return postJson(this.url("edits/"), edit);
  }

  undo(baseRevision: number): Promise<LabelTrack> {
    return postJson(this.url("undo/"), { base_revision: baseRevision });
  }

  async history(): Promise<HistoryEntry[]> {
    const body = await getJson<HistoryEntry[] | { entries?: HistoryEntry[]; results?: HistoryEntry[] }>(this.url("history/"));
    return Array.isArray(body) ? body : body.entries ?? body.results ?? [];
  }

  submit(comment: string): Promise<unknown> {
    return postJson(this.url("submit/"), { comment });
  }

  review(decision: "verify" | "return", track: number | null, comment: string): Promise<unknown> {
    return postJson(this.url("review/"), { decision, track, comment });
  }

  /** The CAM of one slice as a bitmap (8-bit grayscale PNG). */
  async cam(levelsId: number, slice: number): Promise<ImageBitmap> {
    const blob = await getBlob(`${this.apiRoot}/series-levels/${levelsId}/cam/${slice}.png`);
    return createImageBitmap(blob);
  }
}
