/** The review panel for reviewers: verify or return a labelled track with a
 * comment. A verified series is locked; the status shows to everyone. */

import type { LabelsApi } from "../api/labels";
import type { LabelsState } from "../levels/labelsState";
import { byId, el, setText } from "./dom";

const STATUS_TEXT: Record<string, string> = {
  open: "open: not submitted yet",
  submitted: "submitted: waiting for review",
  verified: "verified: labels are locked",
  returned: "returned to the labeler",
};

export function mountReviewPanel(api: LabelsApi, state: LabelsState, reload: () => Promise<void>): void {
  const panel = byId("review-panel");
  const track = byId<HTMLSelectElement>("review-track");
  const comment = byId<HTMLTextAreaElement>("review-comment");
  const message = byId("review-message");
  const status = byId("review-status");

  const decide = (decision: "verify" | "return") => async (): Promise<void> => {
    if (decision === "return" && !comment.value.trim()) return setText(message, "Say what needs fixing when returning.");
    try {
      await api.review(decision, track.value ? Number(track.value) : null, comment.value.trim());
      comment.value = "";
      await reload();
      setText(message, decision === "verify" ? "Verified." : "Returned.");
    } catch (error) {
      setText(message, (error as Error).message);
    }
  };

  const render = (): void => {
    const data = state.data;
    if (!data) return;
    const review = data.review;
    const by = review.by ? ` by ${review.by}` : "";
    setText(status, `${STATUS_TEXT[review.status] ?? review.status}${by}`);
    status.dataset["status"] = review.status;
    byId("review-comment-shown").textContent = review.comment ? `“${review.comment}”` : "";
    panel.hidden = false;
    const canReview = data.permissions.review;
    byId("review-actions").hidden = !canReview;
    track.replaceChildren(...data.tracks.map((t) => el("option", { text: `${t.author} (${t.scheme}, rev. ${t.revision})`, attrs: { value: String(t.id) } })));
    if (review.track !== null) track.value = String(review.track);
    for (const id of ["review-verify", "review-return"]) byId<HTMLButtonElement>(id).disabled = !canReview || data.tracks.length === 0;
  };

  byId("review-verify").addEventListener("click", () => void decide("verify")());
  byId("review-return").addEventListener("click", () => void decide("return")());
  state.on("changed", render);
}
