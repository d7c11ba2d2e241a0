//! A fast hasher for integer keys (async ids, pointers).

use std::hash::Hasher;

/// Multiplicative (Fibonacci) hashing: integer keys such as async ids are
/// sequential, and a multiply spreads them over all bits, including the top
/// bits that `hashbrown` uses for its control bytes. Not resistant to
/// chosen keys, which is fine: keys are ids and addresses we allocate.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(K);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}
