//! A set of piece indices, stored as BEP 3 bitfield bytes (high bit first).

use bytes::Bytes;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    count: u32,
}

impl Bitfield {
    pub fn new(len: u32) -> Self {
        Self {
            bytes: vec![0; len.div_ceil(8) as usize],
            len,
            count: 0,
        }
    }

    pub fn full(len: u32) -> Self {
        let mut field = Self::new(len);
        for index in 0..len {
            field.set(index);
        }
        field
    }

    /// Checks a peer's bitfield message: exactly ceil(len / 8) bytes and
    /// the spare bits at the end zero. `None` means disconnect.
    pub fn from_wire(bytes: &[u8], len: u32) -> Option<Self> {
        if bytes.len() != len.div_ceil(8) as usize {
            return None;
        }
        let spare = (8 - len % 8) % 8;
        if let Some(last) = bytes.last()
            && spare > 0
            && last & ((1u8 << spare) - 1) != 0
        {
            return None;
        }
        let count = bytes.iter().map(|b| b.count_ones()).sum();
        Some(Self {
            bytes: bytes.to_vec(),
            len,
            count,
        })
    }

    pub fn to_wire(&self) -> Bytes {
        Bytes::copy_from_slice(&self.bytes)
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many pieces are set.
    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn is_full(&self) -> bool {
        self.count == self.len
    }

    pub fn get(&self, index: u32) -> bool {
        index < self.len && self.bytes[(index / 8) as usize] & (0x80 >> (index % 8)) != 0
    }

    /// Sets `index`; returns false when it was already set or out of range.
    pub fn set(&mut self, index: u32) -> bool {
        if index >= self.len || self.get(index) {
            return false;
        }
        self.bytes[(index / 8) as usize] |= 0x80 >> (index % 8);
        self.count += 1;
        true
    }

    pub fn clear(&mut self, index: u32) {
        if self.get(index) {
            self.bytes[(index / 8) as usize] &= !(0x80 >> (index % 8));
            self.count -= 1;
        }
    }

    pub fn iter_set(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&index| self.get(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_bitfield_must_have_exact_size_and_zero_spare_bits() {
        assert!(Bitfield::from_wire(&[0xff, 0x80], 9).is_some());
        assert!(Bitfield::from_wire(&[0xff, 0xc0], 9).is_none());
        assert!(Bitfield::from_wire(&[0xff], 9).is_none());
        assert!(Bitfield::from_wire(&[0xff, 0x80, 0x00], 9).is_none());
        assert_eq!(
            Bitfield::from_wire(&[0xff, 0x80], 9).map(|b| b.count()),
            Some(9)
        );
    }

    #[test]
    fn set_and_clear_keep_the_count() {
        let mut field = Bitfield::new(10);
        assert!(field.set(3));
        assert!(!field.set(3));
        assert!(!field.set(10));
        assert_eq!(field.count(), 1);
        field.clear(3);
        assert_eq!(field.count(), 0);
        assert!(Bitfield::full(10).is_full());
    }
}
