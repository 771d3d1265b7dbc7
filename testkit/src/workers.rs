//! The workers a test can start: one per `worker` line of `binaries.txt` (the tidy tests check
//! that the two agree).

/// A worker binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Worker {
    Directory,
    Persist,
    Delivery,
    Receipts,
    Presence,
}

impl Worker {
    /// Every worker, in `binaries.txt`'s order (the order a stack starts them in).
    pub const ALL: [Worker; 5] = [
        Worker::Directory,
        Worker::Persist,
        Worker::Delivery,
        Worker::Receipts,
        Worker::Presence,
    ];

    /// Its binary's name.
    pub const fn binary(self) -> &'static str {
        match self {
            Worker::Directory => "parley-directory",
            Worker::Persist => "parley-persist",
            Worker::Delivery => "parley-delivery",
            Worker::Receipts => "parley-receipts",
            Worker::Presence => "parley-presence",
        }
    }
}

impl std::fmt::Display for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.binary())
    }
}
