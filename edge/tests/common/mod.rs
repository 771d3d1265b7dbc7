//! Shared helpers for the edge's black-box tests.
#![allow(dead_code)]

use parley_testkit::{Stack, StackOptions};

/// A stack whose rate limits do not get in the way of bulk tests.
pub async fn fast_stack() -> anyhow::Result<Stack> {
    let env = [
        ("PARLEY_USER_RATE", "100000"),
        ("PARLEY_USER_BURST", "100000"),
        ("PARLEY_CONN_RATE", "100000"),
        ("PARLEY_CONN_BURST", "100000"),
    ];
    Stack::start_with(StackOptions {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        edges: 1,
    })
    .await
}
