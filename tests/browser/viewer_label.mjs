// A labeler corrects levels in the viewer: moves the L2|L3 boundary up into
// L2, marks two L3 slices as disc, undoes that, reads the history and submits
// for review.
// Input (env): BASE_URL, USERNAME, PASSWORD, PROJECT_ID, SERIES_ID, SCREENSHOT.
// Output: one JSON object on stdout.
import { launch, logIn, watchProblems } from "./browser.mjs";
import { openViewer, viewerInfo } from "./viewer.mjs";

const env = process.env;
const message = (page) => page.$eval("#label-message", (m) => m.textContent);
const waitMessage = (page, prefix) =>
  page.waitForFunction((p) => document.getElementById("label-message").textContent.startsWith(p), prefix, { timeout: 20000 });
const slice = (page) => page.$eval("#viewer", (v) => Number(v.dataset.slice));
const waitSlice = (page, previous) =>
  page.waitForFunction((p) => Number(document.getElementById("viewer").dataset.slice) !== p, previous, { timeout: 20000 });

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  const problems = watchProblems(page);
  await logIn(page, env.BASE_URL, env.USERNAME, env.PASSWORD);
  await openViewer(page, env.BASE_URL, env.PROJECT_ID, env.SERIES_ID, { complete: false });
  const l3 = await slice(page); // the viewer opens at the middle of L3

  await page.keyboard.press("["); // the previous level: L2
  await waitSlice(page, l3);
  const l2 = await slice(page);
  const boundary = await page.$$eval("#edit-boundary option", (os) => os.find((o) => o.textContent.startsWith("L2 | L3"))?.value);
  await page.selectOption("#edit-boundary", boundary);
  await page.click("#edit-move");
  await waitMessage(page, "Saved");
  const moveMessage = await message(page);

  await page.fill("#edit-start", String(l3 + 1));
  await page.fill("#edit-end", String(l3 + 2));
  await page.click("#edit-disc");
  await waitMessage(page, "Saved");
  const discMessage = await message(page);
  await page.waitForTimeout(300);
  await page.screenshot({ path: env.SCREENSHOT, fullPage: true });

  await page.click("#edit-undo");
  await waitMessage(page, "Undone");
  const undoMessage = await message(page);
  await page.click("#label-history summary");
  await page.waitForFunction(() => document.querySelectorAll("#history-list li").length >= 3, null, { timeout: 20000 });
  const history = await page.$$eval("#history-list li", (lis) => lis.map((li) => li.textContent));
  await page.click("#label-submit");
  await waitMessage(page, "Submitted");
  const info = await viewerInfo(page);
  console.log(JSON.stringify({ problems, l3, l2, moveMessage, discMessage, undoMessage, history, ...info }));
} finally {
  await browser.close();
}
