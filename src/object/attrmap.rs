//! The public attributes of an object in compact form (issue 7): one byte
//! buffer and a sorted index, two allocations per object instead of a tree
//! node per dozen entries plus one allocation per value. Token objects are
//! all loaded at C_Initialize, so this decides the module's start time and
//! resident memory with many keys; lookups are a binary search over
//! contiguous entries.

use crate::ck::CK_ATTRIBUTE_TYPE;
use std::collections::BTreeMap;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct AttrMap {
    /// (type, offset, length) sorted by type, types unique.
    index: Vec<(CK_ATTRIBUTE_TYPE, u32, u32)>,
    data: Vec<u8>,
}

impl AttrMap {
    /// From (type, value) pairs in any order; a later duplicate replaces an
    /// earlier one (as collecting into a map does). Values over 4 GiB are
    /// not attribute values (the store and the ABI bound them far lower).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (CK_ATTRIBUTE_TYPE, &'a [u8])>) -> AttrMap {
        let mut v: Vec<(CK_ATTRIBUTE_TYPE, &[u8])> = pairs.into_iter().collect();
        // Stable: equal types keep their order, the last one wins below.
        v.sort_by_key(|(t, _)| *t);
        let mut m = AttrMap { index: Vec::with_capacity(v.len()), data: Vec::new() };
        m.data.reserve_exact(v.iter().map(|(_, x)| x.len()).sum());
        for (i, (t, x)) in v.iter().enumerate() {
            if v.get(i + 1).is_some_and(|(n, _)| n == t) {
                continue;
            }
            let off = u32::try_from(m.data.len()).unwrap_or(u32::MAX);
            let len = u32::try_from(x.len()).unwrap_or(u32::MAX);
            m.data.extend_from_slice(x);
            m.index.push((*t, off, len));
        }
        m
    }

    pub fn from_map(map: &BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>) -> AttrMap {
        AttrMap::from_pairs(map.iter().map(|(t, v)| (*t, v.as_slice())))
    }

    /// The editable form (C_SetAttributeValue, C_CopyObject).
    pub fn to_map(&self) -> BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>> {
        self.iter().map(|(t, v)| (t, v.to_vec())).collect()
    }

    fn value(&self, e: &(CK_ATTRIBUTE_TYPE, u32, u32)) -> &[u8] {
        let (off, len) = (e.1 as usize, e.2 as usize);
        self.data.get(off..off.saturating_add(len)).unwrap_or(&[])
    }

    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        let i = self.index.binary_search_by_key(&ty, |e| e.0).ok()?;
        self.index.get(i).map(|e| self.value(e))
    }

    pub fn contains(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.index.binary_search_by_key(&ty, |e| e.0).is_ok()
    }

    /// In ascending type order.
    pub fn iter(&self) -> impl Iterator<Item = (CK_ATTRIBUTE_TYPE, &[u8])> + '_ {
        self.index.iter().map(|e| (e.0, self.value(e)))
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Total bytes of the values.
    pub fn value_bytes(&self) -> usize {
        self.data.len()
    }
}

impl std::fmt::Debug for AttrMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().map(|(t, v)| (format!("0x{t:x}"), v.len()))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_the_map_it_replaces() {
        let pairs: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> = vec![
            (3, b"label".to_vec()),
            (0, vec![4]),
            (0x8000_0000, vec![]),
            (3, b"second wins".to_vec()),
            (1, vec![1, 2, 3]),
        ];
        let m = AttrMap::from_pairs(pairs.iter().map(|(t, v)| (*t, v.as_slice())));
        let reference: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>> = pairs.iter().cloned().collect();
        assert_eq!(m.len(), reference.len());
        assert_eq!(m.to_map(), reference);
        assert_eq!(m.get(3), Some(&b"second wins"[..]));
        assert_eq!(m.get(0x8000_0000), Some(&[][..]));
        assert_eq!(m.get(2), None);
        assert!(m.contains(1) && !m.contains(7));
        let order: Vec<_> = m.iter().map(|(t, _)| t).collect();
        assert_eq!(order, vec![0, 1, 3, 0x8000_0000]);
        assert_eq!(AttrMap::from_map(&reference), m);
        assert_eq!(m.value_bytes(), 1 + 3 + 11);
        assert!(AttrMap::default().is_empty());
    }
}
