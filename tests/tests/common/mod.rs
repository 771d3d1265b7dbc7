//! Shared helpers for the edge's black-box tests.
#![allow(dead_code)]

use parley_testkit::{Stack, StackBuilder, Worker};

/// A stack of `workers` whose rate limits do not get in the way of bulk tests.
pub fn fast_stack(workers: &[Worker]) -> StackBuilder {
    Stack::with(workers).env(&[
        ("PARLEY_USER_RATE", "100000"),
        ("PARLEY_USER_BURST", "100000"),
        ("PARLEY_CONN_RATE", "100000"),
        ("PARLEY_CONN_BURST", "100000"),
        ("PARLEY_CONN_FRAME_RATE", "100000"),
        ("PARLEY_CONN_FRAME_BURST", "100000"),
    ])
}
