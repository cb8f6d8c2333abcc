// The example app: the seed's component inside <AnalyticsProvider>, in strict
// mode. INSIGHTD_URL and INSIGHTD_WRITE_KEY are fixed at build time (build.mjs).
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { AnalyticsProvider } from "@insightd/react";
import MyComponent from "./MyComponent.jsx";

const options = { url: INSIGHTD_URL, ...(INSIGHTD_WRITE_KEY ? { writeKey: INSIGHTD_WRITE_KEY } : {}) };

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <AnalyticsProvider options={options}>
      <h1>insightd example</h1>
      <p>Each click sends one event to {INSIGHTD_URL}.</p>
      <MyComponent />
    </AnalyticsProvider>
  </StrictMode>,
);
