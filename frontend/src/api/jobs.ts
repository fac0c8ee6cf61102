/** Jobs of a series: follow them, start a classification. */

import { getJson, postJson } from "./http";

export interface Job {
  id: number;
  job_type: string;
  state: "queued" | "running" | "succeeded" | "failed" | "cancelled";
  progress: number;
  message: string;
  error: string;
  queue: { position: number; estimated_start: string | null; estimated_finish: string | null } | null;
  created_by: string | null;
  created_at: string;
  finished_at: string | null;
}

export async function listSeriesJobs(apiRoot: string, seriesId: number): Promise<Job[]> {
  const body = await getJson<{ results: Job[] } | Job[]>(`${apiRoot}/jobs/?series=${seriesId}&ordering=-created_at`);
  return Array.isArray(body) ? body : body.results;
}

export function startClassification(apiRoot: string, projectId: number, seriesId: number): Promise<Job> {
  return postJson(`${apiRoot}/jobs/`, { project: projectId, job_type: "classify_levels", series: seriesId });
}

export function startBodyComposition(
  apiRoot: string,
  projectId: number,
  seriesId: number,
  levels: string[],
): Promise<Job> {
  return postJson(`${apiRoot}/jobs/`, {
    project: projectId,
    job_type: "measure_body_composition",
    series: seriesId,
    parameters: { levels, method: "threshold" },
  });
}
