/** Tissue masks of a series' body-composition measurements: read, correct,
 * undo, submit and review (platform/analysis/masks). */

import type { EncodedMask } from "../masks/labelMap";
import type { ReviewStatus } from "./labels";
import { getJson, postJson } from "./http";

export interface MaskMeasurement {
  id: number;
  level: string;
  status: string;
  issues: string[];
  values: Record<string, number | null>;
  method: string;
  model_version: string;
  mask_source: "model" | "corrected";
  revision: number;
  measured_revision: number;
  corrected_by: string | null;
  corrected_at: string | null;
  remeasure: { job: number; state: string; error: string } | null;
  review: { status: ReviewStatus; by: string | null; at: string | null; comment: string };
  locked: boolean;
  slices: { sop_instance_uid: string; status: string }[];
  masks: EncodedMask[];
}

export interface MaskPermissions {
  label: boolean;
  review: boolean;
  view_images: boolean;
}

export interface SeriesMasks {
  series: number;
  measurements: MaskMeasurement[];
  permissions: MaskPermissions;
}

export type MaskOut = MaskMeasurement & { permissions: MaskPermissions };

export class MasksApi {
  constructor(
    private readonly apiRoot: string,
    private readonly seriesId: number,
  ) {}

  series(): Promise<SeriesMasks> {
    return getJson(`${this.apiRoot}/series/${this.seriesId}/masks/`);
  }

  get(id: number): Promise<MaskOut> {
    return getJson(`${this.apiRoot}/measurements/${id}/masks/`);
  }

  correct(id: number, baseRevision: number, slices: EncodedMask[]): Promise<MaskOut> {
    return postJson(`${this.apiRoot}/measurements/${id}/masks/`, { base_revision: baseRevision, slices });
  }

  undo(id: number, baseRevision: number): Promise<MaskOut> {
    return postJson(`${this.apiRoot}/measurements/${id}/masks/undo/`, { base_revision: baseRevision });
  }

  submit(id: number, comment = ""): Promise<MaskOut> {
    return postJson(`${this.apiRoot}/measurements/${id}/masks/submit/`, { comment });
  }

  review(id: number, decision: "verify" | "return", comment: string): Promise<MaskOut> {
    return postJson(`${this.apiRoot}/measurements/${id}/masks/review/`, { decision, comment });
  }
}
