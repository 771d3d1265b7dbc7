//! Trace ids: one id per client request or command, carried across processes in the NATS
//! header [`HEADER`] and put into a tracing span (field `trace_id`) wherever it is handled, so
//! that the JSON log lines of the edge and of every worker that touched it can be joined.
//!
//! The edge accepts an id from the HTTP header of the same name or makes one; within
//! [`scope`], [`crate::nats::request`] and [`inject`] forward it; the consume and service loops
//! read it back with [`from_headers`].

use std::future::Future;

use tracing::Instrument;

/// HTTP and NATS header that carries the id.
pub const HEADER: &str = "Parley-Trace-Id";

/// Longest id accepted from outside; longer or odd ones are replaced, not trusted into logs.
const MAX_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceId(String);

impl TraceId {
    /// A fresh id: 32 hex digits (a UUIDv7, so ids sort by time).
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().simple().to_string())
    }

    /// An id given by a caller: 1..=64 characters of `[A-Za-z0-9._-]`.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        ok.then(|| Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TraceId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

tokio::task_local! {
    static CURRENT: TraceId;
}

/// The id of the request this task is handling, if any.
pub fn current() -> Option<TraceId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The span every log line of one request or command is written in. It is at ERROR level so
/// that it stays enabled under any filter: the warnings and errors it exists for carry the id.
pub fn span(id: &TraceId) -> tracing::Span {
    tracing::error_span!("trace", trace_id = %id)
}

/// Run `fut` as the handling of `id`: its logs carry the id and its NATS requests forward it.
pub async fn scope<F: Future>(id: TraceId, fut: F) -> F::Output {
    let span = span(&id);
    CURRENT.scope(id, fut.instrument(span)).await
}

/// The id a NATS message carries, if it carries a valid one.
pub fn from_headers(headers: Option<&async_nats::HeaderMap>) -> Option<TraceId> {
    headers
        .and_then(|h| h.get(HEADER))
        .and_then(|v| TraceId::parse(v.as_str()))
}

/// Put the current id (or a new one) on an outgoing message; returns it.
pub fn inject(headers: &mut async_nats::HeaderMap) -> TraceId {
    let id = current().unwrap_or_default();
    headers.insert(HEADER, id.as_str());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_outside_are_checked() {
        assert!(TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").is_some());
        assert!(TraceId::parse("req-1.a_b").is_some());
        assert!(TraceId::parse("").is_none());
        assert!(TraceId::parse("a b").is_none());
        assert!(TraceId::parse("x\ny").is_none());
        assert!(TraceId::parse(&"a".repeat(65)).is_none());
        assert_eq!(TraceId::new().as_str().len(), 32);
    }

    #[tokio::test]
    async fn the_scope_forwards_the_id_on_outgoing_headers() {
        let id = TraceId::parse("abc123").unwrap();
        let seen = scope(id.clone(), async {
            let mut h = async_nats::HeaderMap::new();
            inject(&mut h);
            from_headers(Some(&h))
        })
        .await;
        assert_eq!(seen, Some(id));
        // Outside any scope a fresh id is made rather than none sent.
        let mut h = async_nats::HeaderMap::new();
        let fresh = inject(&mut h);
        assert_eq!(from_headers(Some(&h)), Some(fresh));
        assert_eq!(current(), None);
    }

    /// The JSON log line of an event inside the scope names the trace id.
    #[test]
    fn json_log_lines_carry_the_trace_id() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::fmt::MakeWriter;

        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                if let Ok(mut v) = self.0.lock() {
                    v.extend_from_slice(b);
                }
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl<'a> MakeWriter<'a> for Buf {
            type Writer = Buf;
            fn make_writer(&'a self) -> Buf {
                self.clone()
            }
        }
        let buf = Buf::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_max_level(tracing::Level::WARN)
            .with_writer(buf.clone())
            .finish();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            rt.block_on(scope(TraceId::parse("t-42").unwrap(), async {
                tracing::warn!("inside");
            }));
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(line["span"]["trace_id"], "t-42", "{out}");
    }
}
