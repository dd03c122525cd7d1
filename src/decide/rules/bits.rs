//! Sets of rule indices as fixed-size bit arrays on the stack: what the prefilter
//! (`index.rs`) and the matchers' memo (`matcher.rs`) compute with.

/// Rules covered by the prefilter (the bit sets are fixed-size, on the stack).
pub(crate) const MAX_INDEXED: usize = 256;

const WORDS: usize = MAX_INDEXED / 64;

/// A set of rule indices below [`MAX_INDEXED`].
pub(crate) type Bits = [u64; WORDS];

pub(crate) fn set(bits: &mut Bits, i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

pub(crate) fn and(a: &mut Bits, b: &Bits) {
    for (x, y) in a.iter_mut().zip(b) {
        *x &= y;
    }
}

pub(crate) fn or(a: &Bits, b: &Bits) -> Bits {
    let mut out = *a;
    for (x, y) in out.iter_mut().zip(b) {
        *x |= y;
    }
    out
}

/// The members of `bits`, lowest first.
pub(crate) fn members(bits: Bits) -> impl Iterator<Item = usize> {
    bits.into_iter().enumerate().flat_map(|(w, mut word)| {
        std::iter::from_fn(move || {
            if word == 0 {
                return None;
            }
            let bit = word.trailing_zeros() as usize;
            word &= word - 1;
            Some(w * 64 + bit)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_in_order() {
        let mut b = Bits::default();
        for i in [0, 5, 63, 64, 130, 255] {
            set(&mut b, i);
        }
        assert_eq!(members(b).collect::<Vec<_>>(), [0, 5, 63, 64, 130, 255]);
        assert_eq!(members(Bits::default()).count(), 0);
    }
}
