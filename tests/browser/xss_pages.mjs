// Visit pages (and optionally upload files first) with the CSP switched off in
// the browser, so only the pages' own escaping keeps injected markup inert.
// Input (env): BASE_URL, USERNAME, PASSWORD, PAGES (JSON list of paths),
// optionally UPLOAD_PATH + FILES (JSON list). Output: one JSON object on stdout.
import { launch, logIn } from "./browser.mjs";

const env = process.env;
const browser = await launch();
try {
  const context = await browser.newContext({ bypassCSP: true });
  await context.addInitScript(() => {
    for (const name of ["alert", "confirm", "prompt"]) {
      window[name] = () => { window.__xss = `called ${name}`; };
    }
  });
  const page = await context.newPage();
  const dialogs = [];
  page.on("dialog", (dialog) => { dialogs.push(dialog.message()); dialog.dismiss(); });
  await logIn(page, env.BASE_URL, env.USERNAME, env.PASSWORD);

  // What the page made of the payloads: a script ran (window.__xss), markup was
  // built from them ([data-xss] elements), or they are shown as text.
  const inspect = async (path) => ({
    path,
    xss: await page.evaluate(() => window.__xss ?? null),
    injected: await page.evaluate(() => document.querySelectorAll("[data-xss]").length),
    text: await page.evaluate(() => document.body.innerText),
    title: await page.title(),
  });

  const pages = [];
  if (env.UPLOAD_PATH) {
    await page.goto(`${env.BASE_URL}${env.UPLOAD_PATH}`);
    await page.setInputFiles("#upload-files", JSON.parse(env.FILES));
    await page.click("#upload-form button[type=submit]");
    await page.waitForFunction(
      () => document.getElementById("upload-summary").textContent.startsWith("Done"),
      null, { timeout: 60000 });
    pages.push(await inspect(env.UPLOAD_PATH));
  }
  for (const path of JSON.parse(env.PAGES || "[]")) {
    const response = await page.goto(`${env.BASE_URL}${path}`);
    // Let scripts (the viewer's too) render what they fetch.
    await page.waitForLoadState("networkidle").catch(() => {});
    await page.waitForTimeout(500);
    pages.push({ ...(await inspect(path)), status: response.status() });
  }
  console.log(JSON.stringify({ pages, dialogs }));
} finally {
  await browser.close();
}
