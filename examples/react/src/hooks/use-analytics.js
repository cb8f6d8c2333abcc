// The seed's import path (`@/hooks/use-analytics`), served by @insightd/react.
export { useAnalytics } from "@insightd/react";
