//! Message bodies: chat-like text over a vocabulary with Zipf frequencies (so full-text search
//! has common words, rare words and everything between), and media messages.

use rand::Rng;
use uuid::Uuid;

use crate::dist::{self, Alias};

/// About a thousand words, most frequent first (chat register: "lol", "tomorrow?", place and
/// first names, work jargon, and a tail of rare words a search can single out).
const WORDS: &str = include_str!("words.txt");
/// Zipf exponent of word ranks; ≈ 1 is what natural-language corpora show.
const ZIPF_S: f64 = 1.05;

const EMOJI: &[&str] = &[
    "😂", "👍", "❤️", "🙏", "😅", "🎉", "🔥", "😭", "🙂", "👀", "✅", "🤔",
];

/// Share of messages that are media or files.
pub const MEDIA_SHARE: f64 = 0.07;
/// Media messages carry this prefix: the schema has no attachment column, so a media message
/// is a body holding a link to the object, the way a client posts an uploaded file.
pub const MEDIA_URL_PREFIX: &str = "https://media.parley.example/";

pub struct Vocabulary {
    words: Vec<&'static str>,
    zipf: Alias,
}

impl Default for Vocabulary {
    fn default() -> Self {
        Self::new()
    }
}

impl Vocabulary {
    pub fn new() -> Self {
        let mut seen = std::collections::HashSet::new();
        let words: Vec<&'static str> = WORDS
            .split_whitespace()
            .filter(|w| seen.insert(*w))
            .collect();
        let zipf = Alias::new(&dist::zipf_weights(words.len(), ZIPF_S));
        Self { words, zipf }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn word(&self, rng: &mut impl Rng) -> &'static str {
        self.words[self.zipf.sample(rng)]
    }

    /// A word by rank (0 = most frequent).
    pub fn ranked(&self, rank: usize) -> &'static str {
        self.words[rank.min(self.words.len() - 1)]
    }

    /// Words in a message: mostly a few, some sentences, a few paragraphs, rarely an essay.
    pub fn length(rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        let mean = if u < 0.6 {
            4.0
        } else if u < 0.9 {
            15.0
        } else if u < 0.99 {
            60.0
        } else {
            400.0
        };
        1 + dist::exp(rng, mean) as usize
    }

    /// Append a text message of `n` words to `out`.
    pub fn text(&self, rng: &mut impl Rng, n: usize, out: &mut String) {
        let mut sentence_start = true;
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            let w = self.word(rng);
            // Chat is mostly lower-case; a third of writers capitalise sentences.
            if sentence_start && rng.random_bool(0.35) {
                let mut cs = w.chars();
                if let Some(c) = cs.next() {
                    out.extend(c.to_uppercase());
                    out.push_str(cs.as_str());
                }
            } else {
                out.push_str(w);
            }
            sentence_start = false;
            if i + 1 < n && rng.random_bool(0.08) {
                out.push_str(match rng.random_range(0..4) {
                    0 => ",",
                    1 => "?",
                    _ => ".",
                });
                sentence_start = true;
            }
        }
        if rng.random_bool(0.12) {
            out.push(' ');
            out.push_str(EMOJI[rng.random_range(0..EMOJI.len())]);
        }
    }

    /// Append a media/file message: a caption-less or captioned link to the stored object.
    pub fn media(&self, rng: &mut impl Rng, at_us: i64, out: &mut String) {
        use std::fmt::Write;
        let stamp = chrono::DateTime::from_timestamp_micros(at_us)
            .unwrap_or_default()
            .format("%Y%m%d_%H%M%S");
        let (emoji, name, size_kb) = match rng.random_range(0..100) {
            0..55 => (
                "📷",
                format!("IMG_{stamp}.jpg"),
                rng.random_range(300..6_000),
            ),
            55..65 => (
                "🎬",
                format!("VID_{stamp}.mp4"),
                rng.random_range(2_000..90_000),
            ),
            65..80 => (
                "🎤",
                format!("voice_{stamp}_{}s.ogg", rng.random_range(2..180)),
                rng.random_range(20..900),
            ),
            _ => {
                let ext =
                    ["pdf", "docx", "xlsx", "pptx", "zip", "csv", "txt"][rng.random_range(0..7)];
                let stem = self.ranked(rng.random_range(150..self.len()));
                (
                    "📎",
                    format!("{stem}_{}.{ext}", rng.random_range(1..40)),
                    rng.random_range(10..25_000),
                )
            }
        };
        let object = Uuid::from_u128(rng.random());
        let size = if size_kb >= 1000 {
            format!("{:.1} MB", f64::from(size_kb) / 1000.0)
        } else {
            format!("{size_kb} KB")
        };
        let _ = write!(
            out,
            "{emoji} {name} ({size}) {MEDIA_URL_PREFIX}{}/{name}",
            object.simple()
        );
        if rng.random_bool(0.3) {
            out.push('\n');
            let n = 1 + rng.random_range(0..8);
            self.text(rng, n, out);
        }
    }

    /// A group's name: one to three capitalised words from the middle of the vocabulary.
    pub fn group_name(&self, rng: &mut impl Rng) -> String {
        let n = rng.random_range(1..=3);
        let mut name = String::new();
        for i in 0..n {
            if i > 0 {
                name.push(' ');
            }
            let w = self.ranked(rng.random_range(100..self.len()));
            let w = w.trim_end_matches(['?', '!']);
            let mut cs = w.chars();
            if let Some(c) = cs.next() {
                name.extend(c.to_uppercase());
                name.push_str(cs.as_str());
            }
        }
        name
    }
}

pub const FIRST_NAMES: &[&str] = &[
    "Alice", "Ben", "Chloe", "Daniel", "Emma", "Farid", "Grace", "Hiro", "Isabel", "Jonas", "Kemi",
    "Liam", "Maya", "Noah", "Olivia", "Pedro", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
    "Wen", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Carmen", "Dmitri", "Elif", "Finn", "Gita",
    "Hugo", "Ines", "Jack", "Kofi", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Rafael", "Sofia",
    "Tomas", "Uma", "Viktor", "Wanjiru", "Yara", "Zain",
];

pub const LAST_NAMES: &[&str] = &[
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Kim",
    "Nguyen",
    "Okafor",
    "Silva",
    "Kowalski",
    "Tanaka",
    "Martin",
    "Haddad",
    "Ivanova",
    "Johansson",
    "Patel",
    "Chen",
    "Dubois",
    "Novak",
    "Andersen",
    "Lopez",
    "Brown",
    "Yilmaz",
    "Mensah",
    "Costa",
    "Fischer",
    "Sato",
    "Murphy",
    "Singh",
    "Moreau",
    "Jensen",
    "Wong",
    "Ali",
    "Torres",
    "Bauer",
    "Hughes",
    "Park",
];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn vocabulary_is_large_and_zipfian() {
        let v = Vocabulary::new();
        assert!(v.len() > 900, "{}", v.len());
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut first = 0u32;
        let mut tenth = 0u32;
        for _ in 0..200_000 {
            let w = v.word(&mut rng);
            first += u32::from(w == v.ranked(0));
            tenth += u32::from(w == v.ranked(9));
        }
        // Rank 1 is ≈ 10^1.05 ≈ 11× as frequent as rank 10.
        let ratio = f64::from(first) / f64::from(tenth);
        assert!((8.0..15.0).contains(&ratio), "{ratio}");
    }

    #[test]
    fn lengths_are_mostly_short_with_a_long_tail() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let lens: Vec<usize> = (0..100_000).map(|_| Vocabulary::length(&mut rng)).collect();
        let short = lens.iter().filter(|&&n| n <= 10).count();
        let long = lens.iter().filter(|&&n| n >= 200).count();
        assert!(short > 60_000, "{short}");
        assert!(long > 100 && long < 2_000, "{long}");
    }

    #[test]
    fn media_bodies_are_links_with_a_name_and_size() {
        let v = Vocabulary::new();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..100 {
            let mut s = String::new();
            v.media(&mut rng, 1_700_000_000_000_000, &mut s);
            assert!(s.contains(MEDIA_URL_PREFIX), "{s}");
            assert!(s.contains(" KB)") || s.contains(" MB)"), "{s}");
        }
    }
}
