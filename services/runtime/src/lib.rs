//! Shared daemon plumbing: every ferrodfs daemon shuts down on SIGTERM,
//! serves Prometheus metrics and rejects a bad config at start with an
//! error that names the key.

pub mod config;
pub mod guard;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod nowait;
pub mod shutdown;

pub use config::{load_toml, parse_reserved, ConfigError, Reserved};
pub use shutdown::Shutdown;
