//! PostgreSQL's binary COPY format, written straight into byte buffers.
//!
//! Binary rather than text COPY: no escaping, no number formatting, and the server parses
//! fixed-width fields with a memcpy.

/// Stream header: signature, flags, header-extension length.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Stream trailer: a tuple with field count -1.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
const UUID_OID: i32 = 2950;

/// Rows of one table, encoded; a writer sends them as one CopyData chunk.
#[derive(Default)]
pub struct Rows {
    pub buf: Vec<u8>,
    pub rows: u64,
}

impl Rows {
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            rows: 0,
        }
    }

    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.rows += 1;
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    pub fn uuid(&mut self, v: &uuid::Uuid) -> &mut Self {
        self.buf.extend_from_slice(&16i32.to_be_bytes());
        self.buf.extend_from_slice(v.as_bytes());
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.buf.extend_from_slice(&1i32.to_be_bytes());
        self.buf.push(u8::from(v));
        self
    }

    pub fn text(&mut self, v: &str) -> &mut Self {
        self.buf.extend_from_slice(&len32(v.len()).to_be_bytes());
        self.buf.extend_from_slice(v.as_bytes());
        self
    }

    /// `timestamptz` from microseconds since the Unix epoch.
    pub fn ts(&mut self, unix_us: i64) -> &mut Self {
        self.i64(unix_us - PG_EPOCH_US)
    }

    /// `jsonb`: a version byte (1) and the JSON text.
    pub fn jsonb(&mut self, json: &str) -> &mut Self {
        self.buf
            .extend_from_slice(&len32(json.len() + 1).to_be_bytes());
        self.buf.push(1);
        self.buf.extend_from_slice(json.as_bytes());
        self
    }

    /// One-dimensional `uuid[]` (empty: zero dimensions, as PostgreSQL writes `'{}'`).
    pub fn uuid_array(&mut self, items: &[uuid::Uuid]) -> &mut Self {
        let dims = if items.is_empty() { 0 } else { 1 };
        let len = 12 + dims * 8 + items.len() * 20;
        self.buf.extend_from_slice(&len32(len).to_be_bytes());
        self.buf.extend_from_slice(&(dims as i32).to_be_bytes());
        self.buf.extend_from_slice(&0i32.to_be_bytes());
        self.buf.extend_from_slice(&UUID_OID.to_be_bytes());
        if dims == 1 {
            self.buf
                .extend_from_slice(&len32(items.len()).to_be_bytes());
            self.buf.extend_from_slice(&1i32.to_be_bytes());
            for id in items {
                self.uuid(id);
            }
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

fn len32(n: usize) -> i32 {
    // Every field the seeder writes is far below 1 GiB (bodies are at most 100,000 chars).
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_uuid_array_is_zero_dimensions() {
        let mut r = Rows::default();
        r.uuid_array(&[]);
        assert_eq!(r.buf, [0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11, 134]);
    }

    #[test]
    fn timestamps_count_from_2000() {
        let mut r = Rows::default();
        r.ts(PG_EPOCH_US + 1);
        assert_eq!(&r.buf[4..], &1i64.to_be_bytes());
    }
}
