// A member of another institution asks for the viewer page and the study's
// pixels through the proxy: both refused, nothing received.
// Input (env): BASE_URL, USERNAME, PASSWORD, PROJECT_ID, SERIES_ID, STUDY_UID.
// Output: one JSON object on stdout.
import { launch, logIn } from "./browser.mjs";

const env = process.env;
const browser = await launch();
try {
  const page = await browser.newPage();
  await logIn(page, env.BASE_URL, env.USERNAME, env.PASSWORD);
  const response = await page.goto(`${env.BASE_URL}/projects/${env.PROJECT_ID}/series/${env.SERIES_ID}/viewer/`);
  const pageStatus = response.status();
  const viewerPresent = (await page.$("#viewer")) !== null;
  const proxy = await page.evaluate(async (uid) => {
    const r = await fetch(`/dicomweb/studies/${uid}/metadata`, { headers: { Accept: "application/dicom+json" } });
    return { status: r.status, body: (await r.text()).slice(0, 200) };
  }, env.STUDY_UID);
  console.log(JSON.stringify({ pageStatus, viewerPresent, proxy }));
} finally {
  await browser.close();
}
