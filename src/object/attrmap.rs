//! The public attributes of an object in compact form (issue 7): one byte
//! buffer and a sorted index, two allocations per object instead of a tree
//! node per dozen entries plus one allocation per value. Token objects are
//! all loaded at C_Initialize, so this decides the module's start time and
//! resident memory with many keys; lookups are a binary search over
//! contiguous entries.
//!
//! New objects are also assembled in this form (`template::build`): values
//! are appended to the buffer, so a key pair costs a few allocations rather
//! than one per attribute. A map being assembled may briefly hold a secret
//! value (CKA_VALUE of an imported key, before the template is split), so
//! the buffer never leaves a copy behind: replaced and removed values are
//! wiped in place, a full buffer grows by copy-and-wipe, and a dropped map
//! wipes its buffer.

use crate::ck::CK_ATTRIBUTE_TYPE;
use std::collections::BTreeMap;
use zeroize::Zeroize;

#[derive(Clone, Default)]
pub struct AttrMap {
    /// (type, offset, length) sorted by type, types unique.
    index: Vec<(CK_ATTRIBUTE_TYPE, u32, u32)>,
    data: Vec<u8>,
    /// Bytes of `data` no entry refers to (replaced or removed values, wiped).
    slack: usize,
}

impl PartialEq for AttrMap {
    fn eq(&self, other: &AttrMap) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}
impl Eq for AttrMap {}

impl Drop for AttrMap {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl AttrMap {
    /// From (type, value) pairs in any order; a later duplicate replaces an
    /// earlier one (as collecting into a map does). Values over 4 GiB are
    /// not attribute values (the store and the ABI bound them far lower).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (CK_ATTRIBUTE_TYPE, &'a [u8])>) -> AttrMap {
        let mut v: Vec<(CK_ATTRIBUTE_TYPE, &[u8])> = pairs.into_iter().collect();
        // Stable: equal types keep their order, the last one wins below.
        v.sort_by_key(|(t, _)| *t);
        let mut m = AttrMap { index: Vec::with_capacity(v.len()), data: Vec::new(), slack: 0 };
        m.data.reserve_exact(v.iter().map(|(_, x)| x.len()).sum());
        for (i, (t, x)) in v.iter().enumerate() {
            if v.get(i + 1).is_some_and(|(n, _)| n == t) {
                continue;
            }
            let off = u32_of(m.data.len());
            m.data.extend_from_slice(x);
            m.index.push((*t, off, u32_of(x.len())));
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

    /// An empty map with room for `entries` values of `bytes` in all.
    pub fn with_capacity(entries: usize, bytes: usize) -> AttrMap {
        AttrMap { index: Vec::with_capacity(entries), data: Vec::with_capacity(bytes), slack: 0 }
    }

    /// Appends bytes to the buffer; a full buffer is copied into a larger
    /// one and the old one wiped (a plain `Vec` growth would free it as is).
    fn push_bytes(&mut self, v: &[u8]) -> u32 {
        if self.data.capacity() - self.data.len() < v.len() {
            let want = (self.data.len() + v.len()).max(self.data.capacity() * 2).max(256);
            let mut grown = Vec::with_capacity(want);
            grown.extend_from_slice(&self.data);
            self.data.zeroize();
            self.data = grown;
        }
        let off = u32_of(self.data.len());
        self.data.extend_from_slice(v);
        off
    }

    fn wipe(&mut self, off: u32, len: u32) {
        let (off, len) = (off as usize, len as usize);
        if let Some(b) = self.data.get_mut(off..off.saturating_add(len)) {
            b.zeroize();
        }
        self.slack += len;
    }

    /// Sets `ty` to `v`, replacing any value it had.
    pub fn insert(&mut self, ty: CK_ATTRIBUTE_TYPE, v: &[u8]) {
        match self.index.binary_search_by_key(&ty, |e| e.0) {
            Ok(i) => {
                let Some(&(_, off, len)) = self.index.get(i) else { return };
                if len as usize == v.len() {
                    let o = off as usize;
                    if let Some(b) = self.data.get_mut(o..o + v.len()) {
                        b.copy_from_slice(v);
                    }
                    return;
                }
                self.wipe(off, len);
                let off = self.push_bytes(v);
                if let Some(e) = self.index.get_mut(i) {
                    *e = (ty, off, u32_of(v.len()));
                }
            }
            Err(i) => {
                let off = self.push_bytes(v);
                self.index.insert(i, (ty, off, u32_of(v.len())));
            }
        }
    }

    /// Sets `ty` to a CK_ULONG value.
    pub fn insert_ulong(&mut self, ty: CK_ATTRIBUTE_TYPE, v: crate::ck::CK_ULONG) {
        self.insert(ty, &v.to_ne_bytes());
    }

    /// Sets `ty` to `v` unless it has a value; true if it was set.
    pub fn insert_absent(&mut self, ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> bool {
        match self.index.binary_search_by_key(&ty, |e| e.0) {
            Ok(_) => false,
            Err(i) => {
                let off = self.push_bytes(v);
                self.index.insert(i, (ty, off, u32_of(v.len())));
                true
            }
        }
    }

    /// Removes `ty` (its bytes are wiped); true if it was there.
    pub fn remove(&mut self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        match self.index.binary_search_by_key(&ty, |e| e.0) {
            Ok(i) => {
                let (_, off, len) = self.index.remove(i);
                self.wipe(off, len);
                true
            }
            Err(_) => false,
        }
    }

    /// Drops the wiped slack and spare room once the map is final (an
    /// object keeps its attributes for its lifetime), unless there is
    /// little of it: a copy costs more than a few hundred idle bytes.
    pub fn compact(&mut self) {
        let used = self.data.len() - self.slack.min(self.data.len());
        if self.data.capacity() - used <= 512 && self.index.capacity() - self.index.len() <= 16 {
            return;
        }
        let mut data = Vec::with_capacity(used);
        for e in self.index.iter_mut() {
            let (off, len) = (e.1 as usize, e.2 as usize);
            let new_off = u32_of(data.len());
            data.extend_from_slice(self.data.get(off..off.saturating_add(len)).unwrap_or(&[]));
            e.1 = new_off;
        }
        self.data.zeroize();
        self.data = data;
        self.slack = 0;
        self.index.shrink_to_fit();
    }

    /// A copy without slack, with room for `entries` more values of
    /// `bytes` in all (the copy grows no buffer and needs no compaction).
    pub fn clone_with_room(&self, entries: usize, bytes: usize) -> AttrMap {
        let mut index = Vec::with_capacity(self.index.len() + entries);
        let mut data = Vec::with_capacity(self.value_bytes() + bytes);
        if self.slack == 0 {
            index.extend_from_slice(&self.index);
            data.extend_from_slice(&self.data);
        } else {
            for e in &self.index {
                let off = u32_of(data.len());
                data.extend_from_slice(self.value(e));
                index.push((e.0, off, e.2));
            }
        }
        AttrMap { index, data, slack: 0 }
    }

    fn value(&self, e: &(CK_ATTRIBUTE_TYPE, u32, u32)) -> &[u8] {
        let (off, len) = (e.1 as usize, e.2 as usize);
        self.data.get(off..off.saturating_add(len)).unwrap_or(&[])
    }

    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        // CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL (0..=3), the most
        // read attributes, sit at their own position in an object's sorted
        // index when the ones before them are present: no search.
        if let Some(e) = usize::try_from(ty).ok().and_then(|t| self.index.get(t)).filter(|e| e.0 == ty) {
            return Some(self.value(e));
        }
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
        self.data.len() - self.slack.min(self.data.len())
    }

    /// The value of `ty` as a CK_ULONG.
    pub fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<crate::ck::CK_ULONG> {
        self.get(ty).and_then(super::ulong)
    }

    /// A boolean attribute (absent = false).
    pub fn flag(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.get(ty).is_some_and(|v| v.first() == Some(&1))
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

    #[test]
    fn edits_behave_like_the_map_and_compact_keeps_values() {
        let mut m = AttrMap::with_capacity(2, 4);
        let mut reference: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>> = BTreeMap::new();
        let mut seed = 7u64;
        for step in 0..2000u64 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let ty = (seed >> 33) % 23;
            let len = ((seed >> 17) % 40) as usize;
            let v: Vec<u8> = (0..len).map(|i| (step as u8).wrapping_add(i as u8)).collect();
            match (seed >> 8) % 4 {
                0 => assert_eq!(m.remove(ty), reference.remove(&ty).is_some()),
                1 => {
                    let absent = !reference.contains_key(&ty);
                    assert_eq!(m.insert_absent(ty, &v), absent);
                    reference.entry(ty).or_insert(v);
                }
                _ => {
                    m.insert(ty, &v);
                    reference.insert(ty, v);
                }
            }
            if step % 97 == 0 {
                let copy = m.clone_with_room(3, 40);
                assert_eq!(copy, m);
                assert_eq!((copy.slack, copy.data.len()), (0, m.value_bytes()));
                assert!(copy.index.capacity() >= m.len() + 3 && copy.data.capacity() >= m.value_bytes() + 40);
                m.compact();
                assert_eq!(m.value_bytes(), reference.values().map(Vec::len).sum::<usize>());
                assert!(m.data.capacity() - m.value_bytes() <= 512, "compact leaves little idle room");
            }
            assert_eq!(m.to_map(), reference);
        }
        let before = m.clone();
        m.compact();
        assert_eq!(m, before);
        assert_eq!(m, AttrMap::from_map(&reference));
    }

    #[test]
    fn removed_and_replaced_values_leave_no_copy_in_the_buffer() {
        let secret = [0xA5u8; 24];
        let mut m = AttrMap::with_capacity(4, 32);
        m.insert(1, b"public");
        m.insert(0x11, &secret);
        // Growing past the capacity moves the buffer: the old one is wiped.
        m.insert(3, &[9u8; 100]);
        m.remove(0x11);
        let holds = |m: &AttrMap| m.data.windows(secret.len()).any(|w| w == secret);
        assert!(!holds(&m));
        m.insert(0x11, &secret);
        m.insert(0x11, b"other length");
        assert!(!holds(&m));
        assert_eq!(m.get(0x11), Some(&b"other length"[..]));
        assert_eq!(m.get(1), Some(&b"public"[..]));
    }
}
