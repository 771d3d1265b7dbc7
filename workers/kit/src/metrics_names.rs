//! The metrics contract: every metric name a Parley binary exports, in one place
//! (docs/metrics.md describes each). Labels take values from small fixed sets only —
//! never user or conversation ids.

/// Consume loop (label `consumer`).
pub const CONSUMER_RECEIVED: &str = "parley_consumer_received_total";
pub const CONSUMER_PROCESSED: &str = "parley_consumer_processed_total";
/// Labels `consumer`, `stage` (decode | handle | ack).
pub const CONSUMER_ERRORS: &str = "parley_consumer_errors_total";
pub const CONSUMER_REDELIVERIES: &str = "parley_consumer_redeliveries_total";
/// Messages handed back to wait for an earlier one (persist's order guard after a takeover).
pub const CONSUMER_WAITED: &str = "parley_consumer_waited_total";
/// Messages not yet delivered to the consumer (JetStream `num_pending`).
pub const CONSUMER_LAG: &str = "parley_consumer_lag";
pub const CONSUMER_ACK_PENDING: &str = "parley_consumer_ack_pending";
pub const CONSUMER_BATCH_SECONDS: &str = "parley_consumer_batch_seconds";
pub const CONSUMER_BATCH_SIZE: &str = "parley_consumer_batch_size";

/// Request/reply services (labels `service`, `endpoint`, `outcome`).
pub const SERVICE_REQUESTS: &str = "parley_service_requests_total";
pub const SERVICE_SECONDS: &str = "parley_service_request_seconds";
/// Outgoing requests (label `endpoint`, `outcome`).
pub const NATS_REQUEST_SECONDS: &str = "parley_nats_request_seconds";
pub const JETSTREAM_PUBLISH_SECONDS: &str = "parley_jetstream_publish_seconds";

/// PostgreSQL (label `query`).
pub const DB_QUERY_SECONDS: &str = "parley_db_query_seconds";
pub const DB_POOL_CONNECTIONS: &str = "parley_db_pool_connections";
pub const DB_POOL_IDLE: &str = "parley_db_pool_idle";

/// Redis (label `op`).
pub const REDIS_SECONDS: &str = "parley_redis_command_seconds";

/// Edge.
pub const EDGE_CONNECTIONS: &str = "parley_edge_connections";
pub const EDGE_CONNECTIONS_TOTAL: &str = "parley_edge_connections_total";
pub const EDGE_CONNECTIONS_REJECTED: &str = "parley_edge_connections_rejected_total";
pub const EDGE_FRAMES_IN: &str = "parley_edge_frames_in_total";
pub const EDGE_FRAMES_OUT: &str = "parley_edge_frames_out_total";
pub const EDGE_MESSAGES_ACCEPTED: &str = "parley_edge_messages_accepted_total";
pub const EDGE_RATE_LIMITED: &str = "parley_edge_rate_limited_total";
pub const EDGE_AUTH_FAILURES: &str = "parley_edge_auth_failures_total";
pub const EDGE_FRAME_ERRORS: &str = "parley_edge_frame_errors_total";
pub const EDGE_HTTP_REQUESTS: &str = "parley_edge_http_requests_total";
/// Sockets closed with 4008 (label `reason` = queue_full | write_timeout).
pub const EDGE_SLOW_CONSUMERS: &str = "parley_edge_slow_consumer_disconnects_total";
/// Bytes of frames queued for the edge's sockets, not yet taken by them.
pub const EDGE_OUTBOUND_BYTES: &str = "parley_edge_ws_outbound_bytes";
/// Message-event frames a socket had already been sent (the event was routed twice).
pub const EDGE_DUPLICATE_EVENTS: &str = "parley_edge_duplicate_events_total";

/// Workers' domain counters.
pub const MESSAGES_STORED: &str = "parley_messages_stored_total";
pub const MESSAGES_DEDUPLICATED: &str = "parley_messages_deduplicated_total";
pub const COMMANDS_REJECTED: &str = "parley_commands_rejected_total";
pub const MESSAGES_DELIVERED: &str = "parley_messages_delivered_total";
/// Persisted (the event's `at`) → handed to member edges, seconds (labels `kind`, `via` =
/// live | stream: the copy routed).
pub const DELIVERY_LATENCY: &str = "parley_delivery_latency_seconds";
/// Message events not routed because their other copy already was (label `via` = live |
/// stream: the copy skipped).
pub const DELIVERY_SECOND_COPIES: &str = "parley_delivery_second_copies_total";
/// Presence changes acked without routing: a newer change of the same user was in the batch.
pub const PRESENCE_SUPERSEDED: &str = "parley_delivery_presence_superseded_total";

/// Receipts: watermarks moved (one per member and batch, however many receipts coalesced).
pub const RECEIPTS_APPLIED: &str = "parley_receipts_applied_total";

/// Presence: changes of what others see (labels `status`, `via` = command | sweep | resend).
pub const PRESENCE_TRANSITIONS: &str = "parley_presence_transitions_total";

/// Edge group commit: commands stored per JetStream write.
pub const EDGE_COMMIT_BATCH: &str = "parley_edge_commit_batch_size";
