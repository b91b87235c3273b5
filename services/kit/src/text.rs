//! Free text people type (titles, usernames): what it may not contain.
//!
//! Control characters are refused everywhere. So are Unicode format characters (general
//! category Cf) that change how text around them displays without showing themselves:
//! bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069, the "Trojan Source" trick
//! that makes `evil.com` read as `moc.live`), zero-width spaces and word joiners, the soft
//! hyphen, BOMs, interlinear annotations and tag characters, and the line and paragraph
//! separators. Zero-width joiner and non-joiner (U+200C, U+200D) stay allowed: emoji
//! sequences and several scripts (Persian, Indic) need them.

/// Whether `c` is a control or an invisible format character that free text refuses.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{180E}'
                | '\u{200B}'
                | '\u{200E}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
        )
}

/// What a refused text is told.
pub const HIDDEN_MESSAGE: &str =
    "must not contain control characters or invisible formatting (such as bidi overrides)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_tricks_and_invisibles_are_hidden_and_real_text_is_not() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{2028}',
            '\u{E0041}',
            '\u{0}',
            '\n',
        ] {
            assert!(is_hidden(c), "{:04X}", c as u32);
        }
        for s in [
            "Hello",
            "Grüße",
            "日本語",
            "مرحبا",
            "👨\u{200D}👩\u{200D}👧",
            "می\u{200C}خواهم",
            "✓ done",
        ] {
            assert!(!s.chars().any(is_hidden), "{s}");
        }
    }
}
