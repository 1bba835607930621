//! The writes that turn a bag as it is into the bag as it should be.

use std::collections::BTreeSet;

use super::Bag;

/// Keys to set and keys to delete. Empty when the bag already holds the desired content, so a
/// writer that applies nothing in that case never triggers a needless `relation-changed` on the
/// other side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BagChanges {
    /// Keys whose value is new or different.
    pub set: Bag,
    /// Keys present now and absent from the desired content.
    pub delete: BTreeSet<String>,
}

impl BagChanges {
    /// The changes from `current` to `desired`, where `desired` is the whole content of the bag
    /// (as the Python charm libraries do: clear, then update). Empty values on either side count as
    /// absent keys, as in Juju.
    ///
    /// Meant for bags a contract owns entirely, i.e. application bags; a unit bag also holds
    /// keys Juju writes itself (`ingress-address`, ...) that a contract must not delete.
    pub fn between(current: &Bag, desired: &Bag) -> Self {
        let set = desired
            .iter()
            .filter(|(key, value)| !value.is_empty() && current.get(*key) != Some(*value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let delete = current
            .iter()
            .filter(|(key, value)| {
                !value.is_empty() && desired.get(*key).is_none_or(|v| v.is_empty())
            })
            .map(|(key, _)| key.clone())
            .collect();
        BagChanges { set, delete }
    }

    /// True when the bag already holds the message: nothing to write, and so no
    /// `relation-changed` for the other side.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }

    /// The changes as one `relation-set` would take them: deleted keys with empty values.
    pub fn to_settings(&self) -> Bag {
        let mut settings = self.set.clone();
        settings.extend(self.delete.iter().map(|key| (key.clone(), String::new())));
        settings
    }

    /// Applies the changes to a local copy of the bag.
    pub fn apply_to(&self, bag: &mut Bag) {
        bag.retain(|key, value| !value.is_empty() && !self.delete.contains(key));
        bag.extend(self.set.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(pairs: &[(&str, &str)]) -> Bag {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn equal_bags_need_no_write() {
        let current = bag(&[("a", "1"), ("b", "2")]);
        let changes = BagChanges::between(&current, &current.clone());
        assert!(changes.is_empty());
        assert_eq!(changes.to_settings(), Bag::new());
    }

    #[test]
    fn empty_values_count_as_absent() {
        let changes = BagChanges::between(
            &bag(&[("a", "1"), ("z", "")]),
            &bag(&[("a", "1"), ("b", "")]),
        );
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn changed_keys_are_set_and_stale_keys_deleted() {
        let current = bag(&[("a", "1"), ("b", "2"), ("stale", "x")]);
        let desired = bag(&[("a", "1"), ("b", "3"), ("new", "y")]);
        let changes = BagChanges::between(&current, &desired);
        assert_eq!(changes.set, bag(&[("b", "3"), ("new", "y")]));
        assert_eq!(changes.delete, BTreeSet::from(["stale".to_owned()]));
        assert_eq!(
            changes.to_settings(),
            bag(&[("b", "3"), ("new", "y"), ("stale", "")])
        );
        let mut applied = current;
        changes.apply_to(&mut applied);
        assert_eq!(applied, desired);
    }

    #[test]
    fn empty_desired_clears_the_bag() {
        let current = bag(&[("a", "1"), ("b", "2")]);
        let changes = BagChanges::between(&current, &Bag::new());
        assert!(changes.set.is_empty());
        assert_eq!(changes.delete.len(), 2);
        let mut applied = current;
        changes.apply_to(&mut applied);
        assert!(applied.is_empty());
    }
}
