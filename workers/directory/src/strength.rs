//! Refuse passwords that an attacker tries first. zxcvbn estimates how many guesses a password
//! takes against lists of common passwords, words, names, keyboard patterns, dates and the
//! user's own username and display name (all shipped inside the crate: no network). NIST
//! SP 800-63B asks for exactly this check instead of composition rules.

use parley_contracts::{ErrorCode, error::ApiError};
use zxcvbn::Score;

/// Below this a password falls to an online attack: score 2 means more than 10^6 guesses,
/// which the login throttle makes impractical; "password" and "12345678" score 0.
const MIN_SCORE: Score = Score::Two;

pub fn check(password: &str, user_inputs: &[&str]) -> Result<(), ApiError> {
    let estimate = zxcvbn::zxcvbn(password, user_inputs);
    if estimate.score() >= MIN_SCORE {
        return Ok(());
    }
    let why = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| format!(": {w}"))
        .unwrap_or_default();
    Err(ApiError::new(
        ErrorCode::BadRequest,
        format!("password is too easy to guess{why}; use a longer phrase of unrelated words"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_personal_passwords_are_refused() {
        for pw in [
            "password",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
            "Password1",
        ] {
            assert!(check(pw, &[]).is_err(), "{pw} accepted");
        }
        assert!(check("anastasia1990", &["anastasia1990"]).is_err());
    }

    #[test]
    fn ordinary_strong_passwords_pass() {
        // What the project's own tests, benchmarks and seed use must keep working.
        for pw in [
            "correct horse battery",
            "benchmark-password",
            "parley-seed-password",
            "e2e-password-123",
        ] {
            assert!(check(pw, &["someone"]).is_ok(), "{pw} refused");
        }
    }
}
