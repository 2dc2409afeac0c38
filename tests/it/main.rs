//! End-to-end tests: the real server on loopback, real HTTP, a real SQLite file per test.
//!
//! All integration tests are modules of this one binary (as in svix), so they share one
//! build and the helpers in `support`.

mod alert_sources;
mod alertmanager;
mod architecture;
mod auth;
mod call_endings;
mod cross_site;
mod delivery;
mod demo;
mod destinations_after_sigkill;
mod destinations_cli;
mod dials;
mod discord;
mod doors;
mod email;
mod events;
mod health;
mod host_check;
mod http_limits;
mod inbound_calls;
mod ingest;
mod isolation;
mod live;
mod merge_client;
mod merge_reconcile;
mod merge_webhooks;
mod metrics;
mod multinode;
mod notion;
mod oncall;
mod openapi_doc;
mod parallel_ring;
mod pipelines;
mod postgres_server;
mod postgres_table;
mod process;
mod reference;
mod sandbox_carrier;
mod sandbox_chat;
mod sandbox_merge;
mod settings;
mod slack;
mod sms;
mod spec_check;
mod spoken_words;
mod store;
mod support;
mod telegram;
mod telnyx_client;
mod voice;
