//! Frames waiting for a socket, written by the connection's own task.
//!
//! One task per connection reads the client, the user's delivery subject and the socket's
//! write readiness together. A writer task with channels in between cost two more task
//! hand-offs per frame and about 6 KiB per idle connection (tokio allocates a channel's first
//! block of slots up front), a third of the edge's memory per socket.

use std::collections::VecDeque;
use std::task::{Context, Poll, ready};

use axum::extract::ws::Message;
use futures::{Sink, SinkExt};
use parley_kit::metrics_names as m;

/// A queue that stays this small keeps its allocation; a burst's larger one is given back once
/// written, so an idle socket does not hold the memory of its busiest moment.
const KEEP_CAPACITY: usize = 8;

pub struct Outbox {
    queue: VecDeque<Message>,
    limit: usize,
    /// Frames handed to the socket and not yet flushed.
    unflushed: bool,
}

impl Outbox {
    /// At most `limit` frames wait; a socket that falls further behind is too slow.
    pub fn new(limit: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            limit: limit.max(1),
            unflushed: false,
        }
    }

    /// Queue a frame; false when `limit` frames already wait (the client cannot keep up).
    pub fn push(&mut self, msg: Message) -> bool {
        if self.queue.len() >= self.limit {
            return false;
        }
        self.queue.push_back(msg);
        true
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether anything is left to write or flush.
    pub fn busy(&self) -> bool {
        !self.queue.is_empty() || self.unflushed
    }

    /// Write every queued frame and flush. Cancel-safe: a frame leaves the queue only when the
    /// socket takes it, so dropping this future midway loses nothing.
    pub async fn write<S>(&mut self, sink: &mut S) -> Result<(), S::Error>
    where
        S: Sink<Message> + Unpin,
    {
        futures::future::poll_fn(|cx| self.poll_write(sink, cx)).await
    }

    fn poll_write<S>(&mut self, sink: &mut S, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>>
    where
        S: Sink<Message> + Unpin,
    {
        loop {
            if self.queue.is_empty() {
                if self.unflushed {
                    ready!(sink.poll_flush_unpin(cx))?;
                    self.unflushed = false;
                }
                if self.queue.capacity() > KEEP_CAPACITY {
                    self.queue.shrink_to(KEEP_CAPACITY);
                }
                return Poll::Ready(Ok(()));
            }
            ready!(sink.poll_ready_unpin(cx))?;
            let Some(msg) = self.queue.pop_front() else {
                continue;
            };
            sink.start_send_unpin(msg)?;
            self.unflushed = true;
            metrics::counter!(m::EDGE_FRAMES_OUT).increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes `room` frames, then is not ready until given more room.
    struct Slow {
        taken: Vec<String>,
        room: usize,
        flushes: usize,
    }

    impl Sink<Message> for Slow {
        type Error = ();
        fn poll_ready(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            if self.room > 0 {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }
        fn start_send(mut self: std::pin::Pin<&mut Self>, item: Message) -> Result<(), ()> {
            self.room -= 1;
            if let Message::Text(t) = item {
                self.taken.push(t.to_string());
            }
            Ok(())
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<(), ()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn text(s: &str) -> Message {
        Message::Text(s.to_string().into())
    }

    fn slow(room: usize) -> Slow {
        Slow {
            taken: Vec::new(),
            room,
            flushes: 0,
        }
    }

    /// One poll of the outbox's write, as the connection's task would make it.
    fn poll(out: &mut Outbox, sink: &mut Slow) -> Poll<Result<(), ()>> {
        let waker = futures::task::noop_waker();
        out.poll_write(sink, &mut Context::from_waker(&waker))
    }

    #[test]
    fn refuses_beyond_the_limit() {
        let mut out = Outbox::new(2);
        assert!(out.push(text("a")));
        assert!(out.push(text("b")));
        assert!(!out.push(text("c")));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_stalled_socket_keeps_what_it_did_not_take_in_order() {
        let mut out = Outbox::new(10);
        for s in ["1", "2", "3"] {
            out.push(text(s));
        }
        let mut sink = slow(2);
        assert!(poll(&mut out, &mut sink).is_pending());
        assert_eq!(sink.taken, ["1", "2"]);
        assert_eq!(out.len(), 1);
        assert!(out.busy());
        sink.room = 5;
        assert!(matches!(poll(&mut out, &mut sink), Poll::Ready(Ok(()))));
        assert_eq!(sink.taken, ["1", "2", "3"]);
        assert_eq!(sink.flushes, 1);
        assert!(!out.busy());
    }

    #[test]
    fn gives_back_a_burst_sized_queue() {
        let mut out = Outbox::new(1000);
        for i in 0..500 {
            out.push(text(&i.to_string()));
        }
        let mut sink = slow(1000);
        assert!(poll(&mut out, &mut sink).is_ready());
        assert_eq!(sink.taken.len(), 500);
        assert!(out.queue.capacity() <= KEEP_CAPACITY);
    }
}
