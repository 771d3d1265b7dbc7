//! Structured logging. JSON in production (one object per line, error field `error`), compact
//! text for people. `RUST_LOG` / `PARLEY_LOG` pick levels.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

pub fn init(service: &'static str, format: &str) {
    let filter = EnvFilter::try_from_env("PARLEY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,async_nats=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if format == "json" {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().compact().with_writer(std::io::stderr))
            .try_init()
    };
    if result.is_ok() {
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
    }
}
