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
            .with(
                fmt::layer()
                    .compact()
                    .with_writer(|| OneLine(std::io::stderr())),
            )
            .try_init()
    };
    if result.is_ok() {
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
    }
}

/// Text logs are read line by line, so a newline or carriage return inside a field (a username,
/// a query) would let a client forge log lines. The formatter already escapes ANSI sequences in
/// field values (and writes its own colours with ESC, left alone here); this escapes the other
/// C0 controls but tab and the event's closing newline. The formatter hands over one event per
/// write. JSON logs need none of this: JSON escapes control characters.
struct OneLine<W>(W);

impl<W: std::io::Write> std::io::Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end): (&[u8], &[u8]) = match buf.split_last() {
            Some((b'\n', body)) => (body, b"\n"),
            _ => (buf, b""),
        };
        if !body.iter().copied().any(forges_lines) {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in body {
            if forges_lines(b) {
                out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            } else {
                out.push(b);
            }
        }
        out.extend_from_slice(end);
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn forges_lines(b: u8) -> bool {
    b < 0x20 && b != b'\t' && b != 0x1b
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::OneLine;

    fn through(input: &[u8]) -> Vec<u8> {
        let mut out = OneLine(Vec::new());
        out.write_all(input).expect("write to a Vec");
        out.0
    }

    #[test]
    fn a_field_cannot_start_a_new_line() {
        assert_eq!(
            through(b"login failed username=eve\nINFO admin granted\n"),
            b"login failed username=eve\\x0aINFO admin granted\n"
        );
        assert_eq!(through(b"a\rb\0c\n"), b"a\\x0db\\x00c\n");
    }

    #[test]
    fn ordinary_lines_and_colours_pass_unchanged() {
        let line = b"\x1b[32m INFO\x1b[0m started\tok\n";
        assert_eq!(through(line), line);
    }
}
