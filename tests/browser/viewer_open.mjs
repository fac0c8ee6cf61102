// Open the series viewer, wait for the full sagittal volume, screenshot; then
// turn the Grad-CAM overlay on and screenshot again.
// Input (env): BASE_URL, USERNAME, PASSWORD, PROJECT_ID, SERIES_ID, SCREENSHOT, CAM_SCREENSHOT.
// Output: one JSON object on stdout.
import { launch, logIn, watchProblems } from "./browser.mjs";
import { openViewer, viewerInfo } from "./viewer.mjs";

const env = process.env;
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  const problems = watchProblems(page);
  await logIn(page, env.BASE_URL, env.USERNAME, env.PASSWORD);
  const firstImageMs = await openViewer(page, env.BASE_URL, env.PROJECT_ID, env.SERIES_ID);
  await page.waitForTimeout(500); // the last throttled render after the final slices
  await page.screenshot({ path: env.SCREENSHOT });
  const info = await viewerInfo(page);
  await page.click("#cam-toggle");
  await page.waitForTimeout(800);
  await page.screenshot({ path: env.CAM_SCREENSHOT });
  const legendShown = await page.isVisible("#cam-legend");
  const measure = await page.$eval("#measure-start", (b) => ({ disabled: b.disabled, title: b.title }));
  // Start body composition at the default level (L3) and read what the page says.
  await page.click("#measure-start");
  await page.waitForFunction(() => document.querySelector("#measure-note")?.textContent?.length > 0);
  measure.note = await page.textContent("#measure-note");
  console.log(JSON.stringify({ firstImageMs, problems, legendShown, measure, ...info }));
} finally {
  await browser.close();
}
