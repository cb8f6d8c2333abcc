export { createAnalytics, backoff } from "./client.js";
export type { Analytics, AnalyticsOptions, DeliveryEvent, Metadata, SocketLike, Stats } from "./client.js";
export type { AnalyticsEvent } from "./queue.js";
export { eventId, randomId } from "./ids.js";
