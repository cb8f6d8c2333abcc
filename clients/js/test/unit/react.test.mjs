// @insightd/react: the seed's call shape, and server-side rendering (no
// window, no client made, nothing sent while rendering).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { AnalyticsProvider, useAnalytics } from "../../packages/react/dist/index.js";

test("renders on a server without a window, and useAnalytics() gives trackEvent", () => {
  assert.equal(typeof globalThis.window, "undefined");
  let api;
  function Button() {
    api = useAnalytics();
    return createElement("button", null, "Track Event");
  }
  const html = renderToString(createElement(AnalyticsProvider, { options: { url: "http://insightd.test" } }, createElement(Button)));
  assert.equal(html, "<button>Track Event</button>");
  assert.equal(typeof api.trackEvent, "function");
  assert.equal(typeof api.identify, "function");
  assert.equal(api.client(), null, "no client while rendering on a server");
  // A call before the client exists waits for it rather than failing.
  api.trackEvent({ eventType: "button_click", metadata: { button: "submit" } });
});

test("useAnalytics() outside the provider says what is missing", () => {
  function Lost() {
    useAnalytics();
    return null;
  }
  assert.throws(() => renderToString(createElement(Lost)), /inside <AnalyticsProvider>/);
});
