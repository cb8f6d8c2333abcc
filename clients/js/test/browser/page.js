// The browser tests' page: @insightd/client made from the query string
// (?insightd=URL&maxEvents=..&httpAfterFailures=..), as window.analytics.
import { createAnalytics } from "@insightd/client";

const q = new URLSearchParams(location.search);
const options = { url: q.get("insightd") };
for (const k of ["maxEvents", "httpAfterFailures", "batchSize"]) if (q.has(k)) options[k] = Number(q.get(k));
if (q.has("writeKey")) options.writeKey = q.get("writeKey");
if (q.get("http") === "0") options.httpFallback = false;
window.analytics = createAnalytics(options);
window.events = [];
window.analytics.subscribe((e) => window.events.push(e));
