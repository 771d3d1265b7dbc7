//! Parley's whole-system tests live in `tests/`: each starts NATS, a fresh database, a Redis
//! prefix, the edge and the workers its journey needs as real processes (testkit's `Stack`),
//! and talks HTTP/WebSocket to the edge. Run `cargo build --workspace --bins` first: the tests
//! spawn the binaries from the target directory. A worker's own tests stay with the worker.
//!
//! This library is empty; it exists so that the tests have a package.
