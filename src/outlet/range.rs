//! The `Range` header of a request for one file (RFC 9110, section 14):
//! a single byte range, or the whole file.

/// What a request with an optional `Range` header gets from a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `200 OK`: no range, or one the server may ignore (another unit,
    /// several ranges, a malformed one).
    Whole,
    /// `206 Partial Content`: bytes `start..=end`, within the file.
    Part { start: u64, end: u64 },
    /// `416 Range Not Satisfiable`: the range lies past the end.
    Unsatisfiable,
}

impl ByteRange {
    /// Resolves `header` against a file of `len` bytes. Numbers that do not
    /// fit in 64 bits make the header malformed, hence ignored.
    pub fn resolve(header: Option<&str>, len: u64) -> ByteRange {
        let Some(spec) = header
            .map(str::trim)
            .and_then(|header| strip_prefix_ignore_case(header, "bytes="))
        else {
            return ByteRange::Whole;
        };
        if spec.contains(',') {
            return ByteRange::Whole;
        }
        let Some((first, last)) = spec.trim().split_once('-') else {
            return ByteRange::Whole;
        };
        let (first, last) = (first.trim(), last.trim());
        if first.is_empty() {
            // A suffix: the last `n` bytes.
            return match parse(last).map(|n| n.min(len)) {
                None => ByteRange::Whole,
                Some(0) => ByteRange::Unsatisfiable,
                Some(n) => ByteRange::Part {
                    start: len - n,
                    end: len - 1,
                },
            };
        }
        let Some(start) = parse(first) else {
            return ByteRange::Whole;
        };
        let last = if last.is_empty() {
            None
        } else {
            match parse(last) {
                Some(last) if last >= start => Some(last),
                _ => return ByteRange::Whole,
            }
        };
        if start >= len {
            return ByteRange::Unsatisfiable;
        }
        ByteRange::Part {
            start,
            end: last.map_or(len - 1, |last| last.min(len - 1)),
        }
    }
}

fn parse(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_resolve_against_the_file_length() {
        let cases: &[(Option<&str>, ByteRange)] = &[
            (None, ByteRange::Whole),
            (Some("bytes=0-99"), ByteRange::Part { start: 0, end: 99 }),
            (
                Some("bytes=500-"),
                ByteRange::Part {
                    start: 500,
                    end: 999,
                },
            ),
            (
                Some("bytes=900-5000"),
                ByteRange::Part {
                    start: 900,
                    end: 999,
                },
            ),
            (
                Some("bytes=-100"),
                ByteRange::Part {
                    start: 900,
                    end: 999,
                },
            ),
            (Some("bytes=-5000"), ByteRange::Part { start: 0, end: 999 }),
            (
                Some("Bytes= 10 - 19 "),
                ByteRange::Part { start: 10, end: 19 },
            ),
            (Some("bytes=1000-"), ByteRange::Unsatisfiable),
            (Some("bytes=1000-2000"), ByteRange::Unsatisfiable),
            (Some("bytes=-0"), ByteRange::Unsatisfiable),
            // Ignored: another unit, several ranges, malformed, reversed.
            (Some("items=0-1"), ByteRange::Whole),
            (Some("bytes=0-1,5-6"), ByteRange::Whole),
            (Some("bytes=abc"), ByteRange::Whole),
            (Some("bytes=-"), ByteRange::Whole),
            (Some("bytes=+1-2"), ByteRange::Whole),
            (Some("bytes=20-10"), ByteRange::Whole),
            (Some("bytes=99999999999999999999-"), ByteRange::Whole),
        ];
        for &(header, expected) in cases {
            assert_eq!(ByteRange::resolve(header, 1000), expected, "{header:?}");
        }
    }

    #[test]
    fn nothing_of_an_empty_file_can_be_ranged() {
        assert_eq!(
            ByteRange::resolve(Some("bytes=0-"), 0),
            ByteRange::Unsatisfiable
        );
        assert_eq!(
            ByteRange::resolve(Some("bytes=-10"), 0),
            ByteRange::Unsatisfiable
        );
        assert_eq!(ByteRange::resolve(None, 0), ByteRange::Whole);
    }
}
