// <AnalyticsProvider> and useAnalytics(): the seed's call shape,
//   const { trackEvent } = useAnalytics();
//   trackEvent({ eventType: "button_click", metadata: { button: "submit" } });
// Nothing touches `window` at import or while rendering (server-side rendering
// is safe); the client is made and started in an effect, and calls made
// before it exists wait for it. Under React 18's strict mode the effect runs,
// is undone and runs again: the one client stops and starts again.
import { createAnalytics, type Analytics, type AnalyticsOptions, type Metadata } from "@insightd/client";
import { createContext, createElement, useContext, useEffect, useMemo, useRef, type ReactNode } from "react";

export interface TrackEventInput {
  eventType: string;
  metadata?: Metadata;
}

export interface AnalyticsApi {
  trackEvent(event: TrackEventInput): void;
  identify(userId: string, traits?: Metadata): void;
  page(metadata?: Metadata): void;
  // The client once made (null while rendering on a server or before the first effect).
  client(): Analytics | null;
}

const Context = createContext<AnalyticsApi | null>(null);

export interface AnalyticsProviderProps {
  options: AnalyticsOptions;
  children?: ReactNode;
}

export function AnalyticsProvider({ options, children }: AnalyticsProviderProps) {
  const client = useRef<Analytics | null>(null);
  const early = useRef<Array<(a: Analytics) => void>>([]);
  const opts = useRef(options);
  useEffect(() => {
    if (!client.current) client.current = createAnalytics({ ...opts.current, autoStart: false });
    const a = client.current;
    a.start();
    for (const call of early.current.splice(0)) call(a);
    return () => a.stop();
  }, []);
  const api = useMemo<AnalyticsApi>(() => {
    // Before the first effect (or on a server): kept for the client, a few.
    const run = (call: (a: Analytics) => void) =>
      client.current ? call(client.current) : early.current.length < 1000 && early.current.push(call);
    return {
      trackEvent: ({ eventType, metadata }) => run((a) => a.track(eventType, metadata)),
      identify: (userId, traits) => run((a) => a.identify(userId, traits)),
      page: (metadata) => run((a) => a.page(metadata)),
      client: () => client.current,
    };
  }, []);
  return createElement(Context.Provider, { value: api }, children);
}

export function useAnalytics(): AnalyticsApi {
  const api = useContext(Context);
  if (!api) throw new Error("useAnalytics() must be used inside <AnalyticsProvider>");
  return api;
}
