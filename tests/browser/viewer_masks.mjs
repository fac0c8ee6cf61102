// Tissue masks in the viewer. MODE=paint: a labeler goes to the measured
// slice, paints muscle with the brush, screenshots before/after, saves and
// submits. MODE=review: a reviewer verifies the masks.
// Input (env): BASE_URL, PASSWORD, PROJECT_ID, SERIES_ID, USERNAME, MODE,
// SCREENSHOT_BEFORE, SCREENSHOT (after). Output: one JSON object on stdout.
import { launch, logIn, watchProblems } from "./browser.mjs";
import { openViewer, viewerInfo } from "./viewer.mjs";

const env = process.env;
const browser = await launch();
const panel = (page) => page.$eval("#mask-panel", (p) => ({ ...p.dataset, hidden: p.hidden }));
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  const problems = watchProblems(page);
  await logIn(page, env.BASE_URL, env.USERNAME, env.PASSWORD);
  await openViewer(page, env.BASE_URL, env.PROJECT_ID, env.SERIES_ID, { complete: false });
  await page.waitForFunction(() => document.getElementById("mask-panel").dataset.state === "loaded", null, { timeout: 30000 });
  const out = { problems, mode: env.MODE };
  if (env.MODE === "paint") {
    await page.click("#mask-goto");
    await page.waitForFunction(() => document.getElementById("mask-panel").dataset.sliceHasMask === "true", null, { timeout: 20000 });
    // The side panel's controls scroll the page when used: set them up first.
    await page.selectOption("#mask-tool", "brush");
    await page.selectOption("#mask-tissue", "1");
    await page.fill("#mask-size", "6");
    await page.dispatchEvent("#mask-size", "input");
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(500); // the axial image drawn
    const info = await viewerInfo(page);
    out.boxes = info.boxes;
    await page.screenshot({ path: env.SCREENSHOT_BEFORE });
    const a = info.boxes.axial;
    const cx = a.x + a.width / 2;
    const cy = a.y + a.height / 2;
    out.hit = await page.evaluate(([x, y]) => document.elementFromPoint(x, y)?.id, [cx, cy]);
    await page.mouse.move(cx - 60, cy);
    await page.mouse.down();
    for (let i = 1; i <= 12; i++) await page.mouse.move(cx - 60 + i * 10, cy + (i % 2) * 2);
    await page.mouse.up();
    out.afterPaint = await panel(page);
    await page.screenshot({ path: env.SCREENSHOT });
    await page.click("#mask-save");
    await page.waitForFunction(() => document.getElementById("mask-panel").dataset.revision === "1", null, { timeout: 20000 });
    out.saveMessage = await page.$eval("#mask-message", (m) => m.textContent);
    await page.click("#mask-submit");
    await page.waitForFunction(() => document.getElementById("mask-panel").dataset.review === "submitted", null, { timeout: 20000 });
    out.saved = await panel(page);
  } else {
    out.before = await panel(page);
    out.editHidden = await page.$eval("#mask-edit", (e) => e.hidden);
    await page.fill("#mask-comment", "Muscle outline checked");
    await page.click("#mask-verify");
    await page.waitForFunction(() => document.getElementById("mask-panel").dataset.review === "verified", null, { timeout: 20000 });
    out.after = await panel(page);
    out.info = await page.$eval("#mask-info", (m) => m.textContent);
    await page.screenshot({ path: env.SCREENSHOT, fullPage: true });
  }
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
