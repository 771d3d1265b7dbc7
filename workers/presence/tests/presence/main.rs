//! Black-box tests of the presence worker over a real nats-server (JetStream) and Redis: the
//! worker runs in-process through `build`/`run`; tests speak only NATS to it.

mod common;
mod lifecycle;
mod robustness;
mod sweep;
