//! Bencode (BEP 3): a borrowing decoder for untrusted input and an encoder.
//!
//! The decoder never allocates on the word of the input: a string's
//! declared length is checked against the bytes that are actually there
//! before it is sliced, and strings borrow from the input. Nesting depth,
//! token count and input size are bounded by [`DecodeLimits`]. Lists and
//! dictionaries keep their raw byte span, so the info-hash can be computed
//! over exactly the bytes the torrent's author hashed.

use std::collections::BTreeMap;

use bytes::Bytes;
use thiserror::Error;

use super::limits::{MAX_BENCODE_DEPTH, MAX_BENCODE_TOKENS};

/// Why input is not acceptable bencode; `offset` is the byte at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BencodeError {
    #[error("bencode input is {len} bytes, more than the limit of {limit}")]
    InputTooLarge { len: usize, limit: usize },
    #[error("bencode ends too early at byte {offset}")]
    UnexpectedEnd { offset: usize },
    #[error("unexpected byte 0x{byte:02x} at byte {offset}")]
    UnexpectedByte { byte: u8, offset: usize },
    #[error("malformed integer at byte {offset}")]
    InvalidInteger { offset: usize },
    #[error("malformed string length at byte {offset}")]
    InvalidLength { offset: usize },
    #[error("string at byte {offset} declares {declared} bytes but only {available} remain")]
    StringPastEnd {
        offset: usize,
        declared: u64,
        available: usize,
    },
    #[error("nesting deeper than {limit} levels at byte {offset}")]
    TooDeep { offset: usize, limit: usize },
    #[error("more than {limit} bencode values, at byte {offset}")]
    TooManyTokens { offset: usize, limit: usize },
    #[error("dictionary key at byte {offset} is not a string")]
    KeyNotString { offset: usize },
    #[error("duplicate dictionary key at byte {offset}")]
    DuplicateKey { offset: usize },
    #[error("trailing data after the bencoded value at byte {offset}")]
    TrailingBytes { offset: usize },
}

/// Bounds for one decode. Each field crosses a named limit in
/// [`super::limits`] unless a caller narrows it further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_tokens: usize,
}

impl DecodeLimits {
    /// Depth and token limits shared by every bencode source, with the
    /// input size bound chosen by the caller for its context.
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            max_depth: MAX_BENCODE_DEPTH,
            max_tokens: MAX_BENCODE_TOKENS,
        }
    }
}

/// A decoded value borrowing from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(List<'a>),
    Dict(Dict<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List<'a> {
    pub items: Vec<Value<'a>>,
    /// The list's exact encoding, `l` to `e`.
    pub raw: &'a [u8],
}

/// A dictionary with its entries sorted by key (duplicates are rejected by
/// the decoder) and its exact encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dict<'a> {
    entries: Vec<(&'a [u8], Value<'a>)>,
    /// The dictionary's exact encoding, `d` to `e`.
    pub raw: &'a [u8],
}

impl<'a> Value<'a> {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The string as UTF-8, if it is a string and valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn as_list(&self) -> Option<&List<'a>> {
        match self {
            Value::List(list) => Some(list),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Value::Dict(dict) => Some(dict),
            _ => None,
        }
    }
}

impl<'a> Dict<'a> {
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entries
            .binary_search_by(|(k, _)| (*k).cmp(key))
            .ok()
            .and_then(|index| self.entries.get(index))
            .map(|(_, value)| value)
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &Value<'a>)> {
        self.entries.iter().map(|(key, value)| (*key, value))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Decodes exactly one value that must fill `input`.
pub fn decode(input: &[u8], limits: DecodeLimits) -> Result<Value<'_>, BencodeError> {
    let (value, used) = decode_prefix(input, limits)?;
    if used != input.len() {
        return Err(BencodeError::TrailingBytes { offset: used });
    }
    Ok(value)
}

/// Decodes one value at the start of `input` and returns it with the number
/// of bytes it used; for messages where raw data follows a dictionary
/// (BEP 9 `ut_metadata`).
pub fn decode_prefix(
    input: &[u8],
    limits: DecodeLimits,
) -> Result<(Value<'_>, usize), BencodeError> {
    if input.len() > limits.max_bytes {
        return Err(BencodeError::InputTooLarge {
            len: input.len(),
            limit: limits.max_bytes,
        });
    }
    let mut decoder = Decoder {
        input,
        pos: 0,
        tokens: 0,
        limits,
    };
    let value = decoder.value(0)?;
    Ok((value, decoder.pos))
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    tokens: usize,
    limits: DecodeLimits,
}

impl<'a> Decoder<'a> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(BencodeError::UnexpectedEnd { offset: self.pos })
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, BencodeError> {
        self.tokens += 1;
        if self.tokens > self.limits.max_tokens {
            return Err(BencodeError::TooManyTokens {
                offset: self.pos,
                limit: self.limits.max_tokens,
            });
        }
        match self.peek()? {
            b'i' => self.int().map(Value::Int),
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' | b'd' if depth >= self.limits.max_depth => Err(BencodeError::TooDeep {
                offset: self.pos,
                limit: self.limits.max_depth,
            }),
            b'l' => self.list(depth + 1).map(Value::List),
            b'd' => self.dict(depth + 1).map(Value::Dict),
            byte => Err(BencodeError::UnexpectedByte {
                byte,
                offset: self.pos,
            }),
        }
    }

    /// `i<decimal>e`, no leading zeros, no `-0`, within i64.
    fn int(&mut self) -> Result<i64, BencodeError> {
        let start = self.pos;
        let invalid = BencodeError::InvalidInteger { offset: start };
        let rest = self.input.get(start + 1..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|&b| b == b'e')
            .ok_or(BencodeError::UnexpectedEnd {
                offset: self.input.len(),
            })?;
        let digits = &rest[..end];
        let (negative, magnitude) = match digits.split_first() {
            Some((b'-', magnitude)) => (true, magnitude),
            _ => (false, digits),
        };
        let leading_zero = magnitude.len() > 1 && magnitude.first() == Some(&b'0');
        let negative_zero = negative && magnitude == b"0";
        let all_digits = !magnitude.is_empty() && magnitude.iter().all(u8::is_ascii_digit);
        if !all_digits || leading_zero || negative_zero {
            return Err(invalid);
        }
        let text = std::str::from_utf8(digits).map_err(|_| invalid.clone())?;
        let value = text.parse::<i64>().map_err(|_| invalid)?;
        self.pos = start + 1 + end + 1;
        Ok(value)
    }

    /// `<length>:<bytes>`; the length is checked against what remains
    /// before anything is sliced.
    fn bytes(&mut self) -> Result<&'a [u8], BencodeError> {
        let start = self.pos;
        let rest = &self.input[start..];
        let colon = rest
            .iter()
            .position(|&b| b == b':')
            .ok_or(BencodeError::UnexpectedEnd {
                offset: self.input.len(),
            })?;
        let digits = &rest[..colon];
        // 19 digits always fit in a u64; more can only be hostile.
        if digits.is_empty()
            || digits.len() > 19
            || !digits.iter().all(u8::is_ascii_digit)
            || (digits.len() > 1 && digits[0] == b'0')
        {
            return Err(BencodeError::InvalidLength { offset: start });
        }
        let declared = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        let body_start = start + colon + 1;
        let available = self.input.len() - body_start;
        let length = usize::try_from(declared)
            .ok()
            .filter(|&length| length <= available)
            .ok_or(BencodeError::StringPastEnd {
                offset: start,
                declared,
                available,
            })?;
        self.pos = body_start + length;
        Ok(&self.input[body_start..self.pos])
    }

    fn list(&mut self, depth: usize) -> Result<List<'a>, BencodeError> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        while self.peek()? != b'e' {
            items.push(self.value(depth)?);
        }
        self.pos += 1;
        Ok(List {
            items,
            raw: &self.input[start..self.pos],
        })
    }

    fn dict(&mut self, depth: usize) -> Result<Dict<'a>, BencodeError> {
        let start = self.pos;
        self.pos += 1;
        let mut entries: Vec<(&'a [u8], Value<'a>)> = Vec::new();
        let mut sorted = true;
        while self.peek()? != b'e' {
            let key_offset = self.pos;
            if !self.peek()?.is_ascii_digit() {
                return Err(BencodeError::KeyNotString { offset: key_offset });
            }
            let key = self.bytes()?;
            if let Some((last, _)) = entries.last() {
                match (*last).cmp(key) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => {
                        return Err(BencodeError::DuplicateKey { offset: key_offset });
                    }
                    std::cmp::Ordering::Greater => sorted = false,
                }
            }
            let value = self.value(depth)?;
            entries.push((key, value));
        }
        self.pos += 1;
        // BEP 3 wants sorted keys, but some encoders got this wrong; accept
        // any order (the info-hash uses the raw bytes) but never duplicates.
        if !sorted {
            entries.sort_by(|a, b| a.0.cmp(b.0));
            if entries.windows(2).any(|pair| pair[0].0 == pair[1].0) {
                return Err(BencodeError::DuplicateKey { offset: start });
            }
        }
        Ok(Dict {
            entries,
            raw: &self.input[start..self.pos],
        })
    }
}

/// A value to encode; dictionaries are kept sorted by key as BEP 3 asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedValue {
    Int(i64),
    Bytes(Bytes),
    List(Vec<OwnedValue>),
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
    /// Already-encoded bencode inserted verbatim, such as the original info
    /// dictionary, whose bytes must not change.
    Raw(Bytes),
}

impl OwnedValue {
    pub fn string(text: &str) -> Self {
        OwnedValue::Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            OwnedValue::Int(value) => {
                out.push(b'i');
                out.extend_from_slice(value.to_string().as_bytes());
                out.push(b'e');
            }
            OwnedValue::Bytes(bytes) => encode_bytes(bytes, out),
            OwnedValue::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            OwnedValue::Dict(entries) => {
                out.push(b'd');
                for (key, value) in entries {
                    encode_bytes(key, out);
                    value.encode_into(out);
                }
                out.push(b'e');
            }
            OwnedValue::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(bytes);
}

/// Builds a dictionary from `(key, value)` pairs.
pub fn dict<const N: usize>(entries: [(&str, OwnedValue); N]) -> OwnedValue {
    OwnedValue::Dict(
        entries
            .into_iter()
            .map(|(key, value)| (key.as_bytes().to_vec(), value))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DecodeLimits {
        DecodeLimits::with_max_bytes(1 << 20)
    }

    #[test]
    fn decodes_every_type_and_keeps_raw_spans() {
        let input = b"d3:agei-42e4:infod1:xli1ei2eee4:name4:spame";
        let value = decode(input, limits()).unwrap();
        let dict = value.as_dict().unwrap();
        assert_eq!(dict.get(b"age").and_then(Value::as_int), Some(-42));
        assert_eq!(dict.get(b"name").and_then(Value::as_str), Some("spam"));
        let info = dict.get(b"info").and_then(Value::as_dict).unwrap();
        assert_eq!(info.raw, b"d1:xli1ei2eee");
        let list = info.get(b"x").and_then(Value::as_list).unwrap();
        assert_eq!(list.raw, b"li1ei2ee");
        assert_eq!(list.items, vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(dict.raw, input);
    }

    #[test]
    fn encoder_round_trips_and_sorts_keys() {
        let value = dict([
            ("zeta", OwnedValue::Int(0)),
            ("alpha", OwnedValue::List(vec![OwnedValue::string("a:b")])),
            ("neg", OwnedValue::Int(i64::MIN)),
        ]);
        let encoded = value.encode();
        assert_eq!(
            encoded,
            b"d5:alphal3:a:be3:negi-9223372036854775808e4:zetai0ee"
        );
        let decoded = decode(&encoded, limits()).unwrap();
        let decoded = decoded.as_dict().unwrap();
        assert_eq!(decoded.get(b"neg").and_then(Value::as_int), Some(i64::MIN));
        assert_eq!(decoded.raw, encoded.as_slice());
    }

    #[test]
    fn raw_values_are_inserted_verbatim() {
        let value = dict([("info", OwnedValue::Raw(Bytes::from_static(b"d1:ai1ee")))]);
        assert_eq!(value.encode(), b"d4:infod1:ai1eee");
    }

    #[test]
    fn malformed_integers_are_rejected_with_their_offset() {
        for bad in [
            &b"i-0e"[..],
            b"i03e",
            b"ie",
            b"i-e",
            b"i1x2e",
            b"i9223372036854775808e",
        ] {
            assert_eq!(
                decode(bad, limits()),
                Err(BencodeError::InvalidInteger { offset: 0 }),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            decode(b"li1ei02ee", limits()),
            Err(BencodeError::InvalidInteger { offset: 4 })
        );
        assert_eq!(
            decode(b"i12", limits()),
            Err(BencodeError::UnexpectedEnd { offset: 3 })
        );
    }

    #[test]
    fn malformed_string_lengths_are_rejected() {
        assert_eq!(
            decode(b"01:a", limits()),
            Err(BencodeError::InvalidLength { offset: 0 })
        );
        assert_eq!(
            decode(b"99999999999999999999:a", limits()),
            Err(BencodeError::InvalidLength { offset: 0 })
        );
        assert_eq!(
            decode(b"4", limits()),
            Err(BencodeError::UnexpectedEnd { offset: 1 })
        );
    }

    #[test]
    fn huge_declared_string_length_fails_without_allocating() {
        // Nineteen nines would be ~10^19 bytes if anything trusted it.
        let input = b"9999999999999999999:abc";
        assert_eq!(
            decode(input, limits()),
            Err(BencodeError::StringPastEnd {
                offset: 0,
                declared: 9_999_999_999_999_999_999,
                available: 3,
            })
        );
        assert_eq!(
            decode(b"l5:abcde", limits()),
            Err(BencodeError::UnexpectedEnd { offset: 8 })
        );
    }

    #[test]
    fn nesting_up_to_the_depth_limit_is_accepted_and_beyond_it_rejected() {
        let nested = |depth: usize| {
            let mut input = vec![b'l'; depth];
            input.extend(std::iter::repeat_n(b'e', depth));
            input
        };
        assert!(decode(&nested(MAX_BENCODE_DEPTH), limits()).is_ok());
        assert_eq!(
            decode(&nested(MAX_BENCODE_DEPTH + 1), limits()),
            Err(BencodeError::TooDeep {
                offset: MAX_BENCODE_DEPTH,
                limit: MAX_BENCODE_DEPTH,
            })
        );
        // Far past the limit must fail the same way rather than overflow
        // the stack.
        assert!(matches!(
            decode(&nested(1_000_000), DecodeLimits::with_max_bytes(usize::MAX)),
            Err(BencodeError::TooDeep { .. })
        ));
    }

    #[test]
    fn token_count_beyond_the_limit_is_rejected() {
        let list_of = |count: usize| {
            let mut input = vec![b'l'];
            for _ in 0..count {
                input.extend_from_slice(b"i0e");
            }
            input.push(b'e');
            input
        };
        let unlimited = DecodeLimits::with_max_bytes(usize::MAX);
        // The list itself is one token.
        assert!(decode(&list_of(MAX_BENCODE_TOKENS - 1), unlimited).is_ok());
        assert!(matches!(
            decode(&list_of(MAX_BENCODE_TOKENS), unlimited),
            Err(BencodeError::TooManyTokens {
                limit: MAX_BENCODE_TOKENS,
                ..
            })
        ));
    }

    #[test]
    fn input_larger_than_the_limit_is_rejected_before_parsing() {
        let limits = DecodeLimits::with_max_bytes(4);
        assert!(decode(b"1:a", limits).is_ok());
        assert_eq!(
            decode(b"3:abc", limits),
            Err(BencodeError::InputTooLarge { len: 5, limit: 4 })
        );
    }

    #[test]
    fn dictionary_keys_must_be_unique_strings_in_any_order() {
        assert_eq!(
            decode(b"d1:ai1e1:ai2ee", limits()),
            Err(BencodeError::DuplicateKey { offset: 7 })
        );
        assert_eq!(
            decode(b"d1:bi1e1:ai2e1:bi3ee", limits()),
            Err(BencodeError::DuplicateKey { offset: 0 })
        );
        assert_eq!(
            decode(b"di1ei2ee", limits()),
            Err(BencodeError::KeyNotString { offset: 1 })
        );
        let unsorted = decode(b"d1:bi1e1:ai2ee", limits()).unwrap();
        let unsorted = unsorted.as_dict().unwrap();
        assert_eq!(unsorted.get(b"a").and_then(Value::as_int), Some(2));
        assert_eq!(unsorted.get(b"b").and_then(Value::as_int), Some(1));
    }

    #[test]
    fn trailing_bytes_are_rejected_but_decode_prefix_reports_them() {
        assert_eq!(
            decode(b"i1eXYZ", limits()),
            Err(BencodeError::TrailingBytes { offset: 3 })
        );
        let (value, used) = decode_prefix(b"d1:ai1eeRAW", limits()).unwrap();
        assert_eq!(used, 8);
        assert!(value.as_dict().is_some());
        assert_eq!(
            decode(b"x", limits()),
            Err(BencodeError::UnexpectedByte {
                byte: b'x',
                offset: 0
            })
        );
        assert_eq!(
            decode(b"", limits()),
            Err(BencodeError::UnexpectedEnd { offset: 0 })
        );
    }
}
