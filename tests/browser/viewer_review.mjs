// A reviewer verifies the submitted labels; then the labeler sees them locked.
// Input (env): BASE_URL, PASSWORD, PROJECT_ID, SERIES_ID, REVIEWER, LABELER, SCREENSHOT.
// Output: one JSON object on stdout.
import { launch, logIn, watchProblems } from "./browser.mjs";
import { openViewer } from "./viewer.mjs";

const env = process.env;
const browser = await launch();
try {
  const reviewer = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  const problems = watchProblems(reviewer);
  await logIn(reviewer, env.BASE_URL, env.REVIEWER, env.PASSWORD);
  await openViewer(reviewer, env.BASE_URL, env.PROJECT_ID, env.SERIES_ID, { complete: false });
  const before = await reviewer.$eval("#review-status", (s) => s.dataset.status);
  const labelPanelHidden = await reviewer.$eval("#label-panel", (p) => p.hidden);
  await reviewer.fill("#review-comment", "Levels checked against the ribs <ok>");
  await reviewer.click("#review-verify");
  await reviewer.waitForFunction(() => document.getElementById("review-status").dataset.status === "verified", null, { timeout: 20000 });
  await reviewer.screenshot({ path: env.SCREENSHOT, fullPage: true });

  const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
  const labeler = await context.newPage();
  problems.push(...watchProblems(labeler));
  await logIn(labeler, env.BASE_URL, env.LABELER, env.PASSWORD);
  await openViewer(labeler, env.BASE_URL, env.PROJECT_ID, env.SERIES_ID, { complete: false });
  await labeler.waitForFunction(() => !document.getElementById("label-lock").hidden, null, { timeout: 20000 });
  const locked = {
    lockShown: await labeler.isVisible("#label-lock"),
    assignDisabled: await labeler.$eval("#edit-assign", (b) => b.disabled),
    status: await labeler.$eval("#review-status", (s) => s.textContent),
    comment: await labeler.$eval("#review-comment-shown", (s) => s.innerHTML),
  };
  console.log(JSON.stringify({ problems, before, labelPanelHidden, locked }));
} finally {
  await browser.close();
}
