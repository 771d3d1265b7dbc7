//! Frames waiting for a socket, written by the connection's own task.
//!
//! One task per connection reads the client, the user's delivery subject and the socket's
//! write readiness together. A writer task with channels in between cost two more task
//! hand-offs per frame and about 6 KiB per idle connection (tokio allocates a channel's first
//! block of slots up front), a third of the edge's memory per socket.

use std::collections::VecDeque;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use futures::{Sink, SinkExt};
use parley_kit::metrics_names as m;

/// A queue that stays this small keeps its allocation; a burst's larger one is given back once
/// written, so an idle socket does not hold the memory of its busiest moment.
const KEEP_CAPACITY: usize = 8;

pub struct Outbox {
    queue: VecDeque<Message>,
    limit: usize,
    /// Bytes of the queued frames, and the most that may wait.
    bytes: usize,
    byte_limit: usize,
    /// Frames handed to the socket and not yet flushed.
    unflushed: bool,
    /// While something waits: when the socket last took a frame (or the wait began).
    progress: Option<Instant>,
}

/// A frame's payload size: what it holds in memory while queued.
fn size(msg: &Message) -> usize {
    match msg {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(c) => c.as_ref().map_or(0, |c| c.reason.len()) + 2,
    }
}

impl Outbox {
    /// At most `limit` frames and `byte_limit` bytes wait (a frame that finds the queue empty
    /// is taken whatever its size: one frame fits by construction); a socket that falls further
    /// behind is too slow.
    pub fn new(limit: usize, byte_limit: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            limit: limit.max(1),
            bytes: 0,
            byte_limit,
            unflushed: false,
            progress: None,
        }
    }

    /// Queue a frame; false when the queue is full (the client cannot keep up).
    pub fn push(&mut self, msg: Message) -> bool {
        let n = size(&msg);
        if !self.queue.is_empty()
            && (self.queue.len() >= self.limit || self.bytes + n > self.byte_limit)
        {
            return false;
        }
        self.push_paced(msg);
        true
    }

    /// Queue a frame whatever the limits: for paced feeds, read only while the queue is short,
    /// and for the close frame of a client given up on.
    pub fn push_paced(&mut self, msg: Message) {
        let n = size(&msg);
        if !self.busy() {
            self.progress = Some(Instant::now());
        }
        self.bytes += n;
        metrics::gauge!(m::EDGE_OUTBOUND_BYTES).increment(n as f64);
        self.queue.push_back(msg);
    }

    /// Drop every queued frame (the socket is being given up on) and give back their memory.
    pub fn clear(&mut self) {
        metrics::gauge!(m::EDGE_OUTBOUND_BYTES).decrement(self.bytes as f64);
        self.bytes = 0;
        self.queue = VecDeque::new();
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether anything is left to write or flush.
    pub fn busy(&self) -> bool {
        !self.queue.is_empty() || self.unflushed
    }

    /// How long frames have waited without the socket taking any (zero when none wait).
    pub fn stalled_for(&self) -> Duration {
        match self.progress {
            Some(t) if self.busy() => t.elapsed(),
            _ => Duration::ZERO,
        }
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
                self.progress = None;
                if self.queue.capacity() > KEEP_CAPACITY {
                    self.queue.shrink_to(KEEP_CAPACITY);
                }
                return Poll::Ready(Ok(()));
            }
            ready!(sink.poll_ready_unpin(cx))?;
            let Some(msg) = self.queue.pop_front() else {
                continue;
            };
            let n = size(&msg);
            self.bytes -= n;
            metrics::gauge!(m::EDGE_OUTBOUND_BYTES).decrement(n as f64);
            self.progress = Some(Instant::now());
            sink.start_send_unpin(msg)?;
            self.unflushed = true;
            metrics::counter!(m::EDGE_FRAMES_OUT).increment(1);
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.bytes > 0 {
            metrics::gauge!(m::EDGE_OUTBOUND_BYTES).decrement(self.bytes as f64);
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
        let mut out = Outbox::new(2, 1 << 20);
        assert!(out.push(text("a")));
        assert!(out.push(text("b")));
        assert!(!out.push(text("c")));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn refuses_beyond_the_byte_limit_but_always_takes_one_frame() {
        let mut out = Outbox::new(1000, 10);
        assert!(
            out.push(text(&"x".repeat(25))),
            "an empty queue takes any frame"
        );
        assert!(!out.push(text("y")));
        assert_eq!(out.bytes(), 25);
        let mut sink = slow(10);
        assert!(poll(&mut out, &mut sink).is_ready());
        assert_eq!(out.bytes(), 0);
        assert!(out.push(text("123456")));
        assert!(out.push(text("7890")));
        assert!(!out.push(text("a")), "10 bytes wait already");
        out.clear();
        assert_eq!((out.len(), out.bytes()), (0, 0));
    }

    #[test]
    fn a_stall_is_measured_from_the_last_frame_taken() {
        let mut out = Outbox::new(10, 1 << 20);
        assert_eq!(out.stalled_for(), Duration::ZERO);
        out.push(text("1"));
        out.push(text("2"));
        std::thread::sleep(Duration::from_millis(30));
        let mut sink = slow(1);
        assert!(poll(&mut out, &mut sink).is_pending());
        assert!(
            out.stalled_for() < Duration::from_millis(30),
            "a frame was just taken"
        );
        std::thread::sleep(Duration::from_millis(30));
        assert!(poll(&mut out, &mut sink).is_pending());
        assert!(
            out.stalled_for() >= Duration::from_millis(30),
            "nothing taken since"
        );
        sink.room = 1;
        assert!(poll(&mut out, &mut sink).is_ready());
        assert_eq!(out.stalled_for(), Duration::ZERO);
    }

    #[test]
    fn a_stalled_socket_keeps_what_it_did_not_take_in_order() {
        let mut out = Outbox::new(10, 1 << 20);
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
        let mut out = Outbox::new(1000, 1 << 20);
        for i in 0..500 {
            out.push(text(&i.to_string()));
        }
        let mut sink = slow(1000);
        assert!(poll(&mut out, &mut sink).is_ready());
        assert_eq!(sink.taken.len(), 500);
        assert!(out.queue.capacity() <= KEEP_CAPACITY);
    }
}
