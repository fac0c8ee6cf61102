// Upload files through the project's upload page and report what the page shows.
// Input (env): BASE_URL, USERNAME, PASSWORD, PROJECT_ID, FILES (JSON list), SCREENSHOT.
// Output: one JSON object on stdout (rows, summary, problems, and the upload
// requests the page sent: their Content-Type).
import { launch, logIn, watchProblems } from "./browser.mjs";

const env = process.env;
const browser = await launch();
try {
  const page = await browser.newPage();
  const problems = watchProblems(page);
  const posts = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname === "/api/v1/uploads/") {
      posts.push(request.headers()["content-type"] || "");
    }
  });
  await logIn(page, env.BASE_URL, env.USERNAME, env.PASSWORD);
  await page.goto(`${env.BASE_URL}/projects/${env.PROJECT_ID}/upload/`);
  await page.setInputFiles("#upload-files", JSON.parse(env.FILES));
  await page.click("#upload-form button[type=submit]");
  await page.waitForFunction(
    () => document.getElementById("upload-summary").textContent.startsWith("Done"),
    null, { timeout: 60000 });
  const rows = await page.$$eval("#upload-table tbody tr", (trs) => trs.map((tr) => ({
    name: tr.cells[0].textContent,
    progress: tr.querySelector("progress").value,
    result: tr.cells[2].textContent,
    ok: tr.cells[2].className === "ok",
  })));
  const summary = await page.textContent("#upload-summary");
  await page.screenshot({ path: env.SCREENSHOT, fullPage: true });
  console.log(JSON.stringify({ rows, summary, problems, posts }));
} finally {
  await browser.close();
}
