//! Validation of client input, shared by the edge (first line) and the owning workers.

use crate::error::{ApiError, ErrorCode};
use crate::limits::*;

/// A message body: non-blank, at most [`MAX_BODY_CHARS`] characters, no NUL (which PostgreSQL
/// text cannot hold and no client needs).
pub fn body(body: &str) -> Result<(), ApiError> {
    if body.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::BodyEmpty, "message body is empty"));
    }
    // Cheap byte bound first: a string of n bytes has at most n characters.
    if body.len() > MAX_BODY_CHARS && body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::new(
            ErrorCode::BodyTooLong,
            format!("message body exceeds {MAX_BODY_CHARS} characters"),
        ));
    }
    if body.contains('\0') {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "message body contains a NUL character",
        ));
    }
    Ok(())
}

/// Usernames are stored as given and compared lower-cased.
pub fn username(name: &str) -> Result<(), ApiError> {
    let n = name.chars().count();
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&n) || !ok_chars {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "username must be {USERNAME_MIN}-{USERNAME_MAX} characters of a-z, 0-9, '_', '.', '-'"
            ),
        ));
    }
    Ok(())
}

pub fn password(pw: &str) -> Result<(), ApiError> {
    let n = pw.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters"),
        ));
    }
    Ok(())
}

/// A short single-line label (display name, group name).
pub fn label(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if value.trim().is_empty() || n > max || value.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("{what} must be 1-{max} characters without control characters"),
        ));
    }
    Ok(())
}

pub fn avatar_url(url: &str) -> Result<(), ApiError> {
    if url.is_empty() {
        return Ok(());
    }
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok
        || url.len() > AVATAR_URL_MAX
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "avatarUrl must be an http(s) URL",
        ));
    }
    Ok(())
}

/// Free text that is stored or searched (a report reason, a search query): 1..=`max`
/// characters after trimming, no NUL (PostgreSQL text cannot hold it) and, unless `multiline`,
/// no control characters at all. Returns the trimmed text.
pub fn text<'a>(
    what: &str,
    value: &'a str,
    max: usize,
    multiline: bool,
) -> Result<&'a str, ApiError> {
    let v = value.trim();
    let bad_char =
        |c: char| c == '\0' || (c.is_control() && !(multiline && matches!(c, '\n' | '\t')));
    if v.is_empty() || v.chars().count() > max || v.chars().any(bad_char) {
        let lines = if multiline { "" } else { " on one line" };
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("{what} must be 1-{max} characters{lines}, without NUL or control characters"),
        ));
    }
    Ok(v)
}

pub fn emoji(e: &str) -> Result<(), ApiError> {
    if e.is_empty()
        || e.len() > MAX_EMOJI_BYTES
        || e.chars().any(|c| c.is_ascii() || c.is_control())
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "emoji must be 1 emoji (no ASCII)",
        ));
    }
    Ok(())
}

/// The first characters of a body, for conversation lists and reply quotes.
pub fn preview(body: &str) -> String {
    let mut out: String = body.chars().take(PREVIEW_CHARS).collect();
    if out.len() < body.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_limits() {
        assert_eq!(body("").unwrap_err().code, ErrorCode::BodyEmpty);
        assert_eq!(body("  \n").unwrap_err().code, ErrorCode::BodyEmpty);
        assert!(
            body(&"é".repeat(MAX_BODY_CHARS)).is_ok(),
            "limit counts characters, not bytes"
        );
        assert_eq!(
            body(&"a".repeat(MAX_BODY_CHARS + 1)).unwrap_err().code,
            ErrorCode::BodyTooLong
        );
        assert_eq!(body("a\0b").unwrap_err().code, ErrorCode::BadRequest);
    }

    #[test]
    fn usernames() {
        assert!(username("alice_01").is_ok());
        assert!(username("al").is_err());
        assert!(username("alice smith").is_err());
        assert!(username("ålice").is_err());
    }

    #[test]
    fn previews_cut_on_characters() {
        let long = "ü".repeat(PREVIEW_CHARS + 5);
        let p = preview(&long);
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert_eq!(preview("short"), "short");
    }

    #[test]
    fn free_text_refuses_nul_and_control_characters() {
        assert_eq!(text("q", "  ana ", 64, false).ok(), Some("ana"));
        assert!(text("q", "a\0b", 64, false).is_err());
        assert!(text("q", "a\nb", 64, false).is_err());
        assert!(text("reason", "spam\nand abuse", 500, true).is_ok());
        assert!(text("reason", "a\0", 500, true).is_err());
        assert!(text("reason", "\u{1b}[31m", 500, true).is_err());
        assert!(text("q", "   ", 64, false).is_err());
        assert!(text("q", &"x".repeat(65), 64, false).is_err());
    }

    #[test]
    fn emoji_rejects_ascii() {
        assert!(emoji("👍").is_ok());
        assert!(emoji("x").is_err());
        assert!(emoji("").is_err());
    }
}
