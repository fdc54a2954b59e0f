//! UTF-16 offsets in Rust strings. Yjs, CodeMirror and the platforms' event streams count positions in
//! UTF-16 code units; Rust strings are UTF-8.

/// Length of `s` in UTF-16 code units.
pub fn len(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

/// Byte index of UTF-16 offset `at` in `s`, clamped to the end; an offset inside a surrogate pair moves
/// to the character's end.
pub fn byte_at(s: &str, at: u32) -> usize {
    let mut units = 0u32;
    for (i, c) in s.char_indices() {
        if units >= at {
            return i;
        }
        units += c.len_utf16() as u32;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_count_utf16_units() {
        let s = "a🙂é";
        assert_eq!(super::len(s), 4);
        assert_eq!(super::byte_at(s, 0), 0);
        assert_eq!(super::byte_at(s, 1), 1);
        assert_eq!(super::byte_at(s, 3), 5);
        assert_eq!(super::byte_at(s, 4), s.len());
        assert_eq!(super::byte_at(s, 99), s.len());
    }
}
