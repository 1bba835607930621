//! Which queued hook runs next when the model settles.
//!
//! Juju promises less than one queue: every unit agent runs its own hooks, so units interleave
//! freely, within a unit only some orders are fixed, and a hook may run more than once (Juju
//! retries a failed hook, whose file changes stay). A charm that is right only in the driver's
//! queue order, once per hook, is wrong on a real controller. So besides
//! [`Schedule::InOrder`]:
//!
//! [`Schedule::Repeated`] runs every hook twice in a row, in queue order: each handler must be
//! idempotent.
//!
//! [`Schedule::Shuffled`] picks, from a seed, another order Juju allows, and adds hooks Juju
//! may run at any time:
//!
//! - **Across units**: any interleaving, except that a principal's `remove` waits until its
//!   subordinates have run all their queued hooks (Juju removes subordinates first).
//! - **Within a unit**: a hook may overtake earlier queued hooks of the same unit only when
//!   both are "floating" (relation hooks, `config-changed`, `leader-*`, `update-status`,
//!   `*-pebble-ready`, `secret-changed`) and not about the same relation. `install`, `start`,
//!   `upgrade-charm`, `stop`, `remove`, storage hooks and actions keep their place, as do the
//!   created/joined/changed/departed/broken hooks of one relation.
//! - **Repeats**: a hook that succeeded may run again right away (as when Juju retries a hook
//!   whose first run changed files but then failed), and a started unit may get a spurious
//!   `config-changed` (agent restart) or `update-status` (timer).
//!
//! The same seed gives the same order, so a failure can be replayed: scenarios print the
//! schedule they run under.

use std::collections::VecDeque;
use std::fmt;

use super::hook::{Hook, HookCall};
use crate::state::ModelState;

/// How [`Model::settle`](super::Model::settle) orders the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// Queue order: the sequences Juju documents for each operation.
    #[default]
    InOrder,
    /// Queue order, every hook run twice in a row.
    Repeated,
    /// Another order Juju allows, with repeated and spurious hooks, chosen from `seed`.
    Shuffled { seed: u64 },
}

impl Schedule {
    /// In order, repeated, then shuffled with each of `seeds`: what scenarios run under.
    pub fn all(seeds: impl IntoIterator<Item = u64>) -> Vec<Schedule> {
        [Schedule::InOrder, Schedule::Repeated]
            .into_iter()
            .chain(seeds.into_iter().map(|seed| Schedule::Shuffled { seed }))
            .collect()
    }
}

/// Runs a scenario under each schedule and checks that it ends the same way under all of
/// them; returns that end state. `run` builds its own model under the schedule it is given
/// and returns what the test compares (statuses, bags, files...). The schedule is printed
/// first, so a failing run names the seed to replay.
pub fn same_end_state<T: PartialEq + fmt::Debug>(
    schedules: &[Schedule],
    mut run: impl FnMut(Schedule) -> T,
) -> T {
    let mut first: Option<(Schedule, T)> = None;
    for &schedule in schedules {
        eprintln!("--- schedule: {schedule}");
        let end = run(schedule);
        match &first {
            None => first = Some((schedule, end)),
            Some((reference, expected)) => assert_eq!(
                &end, expected,
                "the end state under {schedule} differs from the one under {reference}"
            ),
        }
    }
    match first {
        Some((_, end)) => end,
        None => panic!("same_end_state needs at least one schedule"),
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::InOrder => f.write_str("in order"),
            Schedule::Repeated => f.write_str("every hook twice"),
            Schedule::Shuffled { seed } => write!(f, "shuffled (seed {seed})"),
        }
    }
}

/// Chance, out of 1000, that a hook that succeeded runs again at once.
const REPEAT_PER_MILLE: u64 = 250;
/// Chance, out of 1000, that a started unit gets a spurious hook after one of its hooks.
const SPURIOUS_PER_MILLE: u64 = 150;

/// A [`Schedule`] with its generator's state.
#[derive(Debug, Clone)]
pub(crate) struct Scheduler {
    schedule: Schedule,
    rng: SplitMix64,
    /// [`Schedule::Repeated`]: the hook at the head of the queue is a repeat.
    repeat_queued: bool,
}

impl Scheduler {
    pub fn new(schedule: Schedule) -> Self {
        let seed = match schedule {
            Schedule::InOrder | Schedule::Repeated => 0,
            Schedule::Shuffled { seed } => seed,
        };
        Scheduler {
            schedule,
            rng: SplitMix64(seed),
            repeat_queued: false,
        }
    }

    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// Whether choosing needs the model state (the queue order alone does not).
    pub fn needs_state(&self) -> bool {
        matches!(self.schedule, Schedule::Shuffled { .. })
    }

    /// Takes the next hook to run out of `queue`. `state` is only read when shuffling.
    pub fn next(
        &mut self,
        queue: &mut VecDeque<HookCall>,
        state: Option<&ModelState>,
    ) -> Option<HookCall> {
        let state = match (self.schedule, state) {
            (Schedule::Shuffled { .. }, Some(state)) => state,
            _ => return queue.pop_front(),
        };
        let eligible: Vec<usize> = (0..queue.len())
            .filter(|&i| may_run(queue, i, state))
            .collect();
        // Something is always eligible: the head of the queue's unit, unless it is a
        // principal's `remove` waiting for a subordinate, whose own head is then eligible.
        let pick = match eligible.len() {
            0 => 0,
            n => eligible[self.rng.below(n as u64) as usize],
        };
        queue.remove(pick)
    }

    /// Hooks to put at the head of the queue after `call` succeeded: a repeat of it, or a
    /// spurious hook for its unit.
    pub fn after_success(
        &mut self,
        call: &HookCall,
        queue: &VecDeque<HookCall>,
        state: Option<&ModelState>,
    ) -> Vec<HookCall> {
        if self.schedule == Schedule::Repeated {
            let repeat = !self.repeat_queued && !matches!(call.hook, Hook::Action { .. });
            self.repeat_queued = repeat;
            return if repeat {
                vec![call.clone()]
            } else {
                Vec::new()
            };
        }
        let state = match (self.schedule, state) {
            (Schedule::Shuffled { .. }, Some(state)) => state,
            _ => return Vec::new(),
        };
        let mut extra = Vec::new();
        if !matches!(call.hook, Hook::Action { .. }) && self.rng.chance(REPEAT_PER_MILLE) {
            extra.push(call.clone());
        }
        let live = state.unit(&call.unit).is_some_and(|u| u.started)
            && !matches!(call.hook, Hook::Stop | Hook::Remove)
            && !queue
                .iter()
                .any(|q| q.unit == call.unit && matches!(q.hook, Hook::Stop | Hook::Remove));
        if live && self.rng.chance(SPURIOUS_PER_MILLE) {
            let hook = if self.rng.chance(500) {
                Hook::ConfigChanged
            } else {
                Hook::UpdateStatus
            };
            extra.push(HookCall::new(call.unit.clone(), hook));
        }
        extra
    }
}

/// Whether `queue[i]` may run before everything queued ahead of it.
fn may_run(queue: &VecDeque<HookCall>, i: usize, state: &ModelState) -> bool {
    let call = &queue[i];
    let overtakes_own = queue
        .iter()
        .take(i)
        .filter(|earlier| earlier.unit == call.unit)
        .all(|earlier| commute(&earlier.hook, &call.hook));
    if !overtakes_own {
        return false;
    }
    if call.hook == Hook::Remove {
        let waits_for_subordinate = queue.iter().any(|q| {
            state
                .unit(&q.unit)
                .is_some_and(|u| u.principal.as_deref() == Some(call.unit.as_str()))
        });
        return !waits_for_subordinate;
    }
    true
}

/// Whether two hooks of one unit may run in either order.
fn commute(a: &Hook, b: &Hook) -> bool {
    floating(a) && floating(b) && (a.relation().is_none() || a.relation() != b.relation())
}

/// Hooks whose place among a unit's other hooks Juju does not fix.
fn floating(hook: &Hook) -> bool {
    matches!(
        hook,
        Hook::RelationCreated { .. }
            | Hook::RelationJoined { .. }
            | Hook::RelationChanged { .. }
            | Hook::RelationDeparted { .. }
            | Hook::RelationBroken { .. }
            | Hook::ConfigChanged
            | Hook::LeaderElected
            | Hook::LeaderSettingsChanged
            | Hook::UpdateStatus
            | Hook::PebbleReady { .. }
            | Hook::SecretChanged { .. }
    )
}

/// A small, well-mixed generator (SplitMix64): reproducible orders without a dependency.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`); the modulo bias is irrelevant for queue lengths.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AppState, UnitState};

    fn call(unit: &str, hook: Hook) -> HookCall {
        HookCall::new(unit, hook)
    }

    fn changed(relation: u32) -> Hook {
        Hook::RelationChanged {
            relation,
            remote: None,
        }
    }

    #[test]
    fn in_order_pops_the_head_and_adds_nothing() {
        let mut s = Scheduler::new(Schedule::InOrder);
        let mut queue = VecDeque::from([call("a/0", Hook::Install), call("b/0", Hook::Install)]);
        assert_eq!(s.next(&mut queue, None), Some(call("a/0", Hook::Install)));
        let state = ModelState::default();
        assert!(
            s.after_success(&call("a/0", Hook::Install), &queue, Some(&state))
                .is_empty()
        );
    }

    #[test]
    fn repeated_runs_each_hook_twice() {
        let mut s = Scheduler::new(Schedule::Repeated);
        let mut queue = VecDeque::from([call("a/0", Hook::Install), call("a/0", Hook::Start)]);
        let mut ran = Vec::new();
        while let Some(c) = s.next(&mut queue, None) {
            ran.push(c.hook.label());
            for extra in s.after_success(&c, &queue, None).into_iter().rev() {
                queue.push_front(extra);
            }
        }
        assert_eq!(ran, ["install", "install", "start", "start"]);
    }

    #[test]
    fn same_end_state_returns_the_common_end_and_names_a_deviating_schedule() {
        let schedules = Schedule::all([1, 2]);
        assert_eq!(same_end_state(&schedules, |_| 7), 7);
        let deviant = std::panic::catch_unwind(|| {
            same_end_state(&schedules, |s| matches!(s, Schedule::Shuffled { seed: 2 }))
        });
        let message = deviant.unwrap_err();
        let message = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.contains("shuffled (seed 2)"), "{message}");
    }

    #[test]
    fn units_keep_their_fixed_order_but_relations_float() {
        let state = ModelState::default();
        let queue = VecDeque::from([
            call("a/0", Hook::Install),
            call("a/0", Hook::Start),
            call("b/0", changed(1)),
            call("b/0", changed(2)),
            call("b/0", Hook::ConfigChanged),
            call("b/0", changed(1)),
            call("b/0", Hook::Stop),
        ]);
        let eligible: Vec<usize> = (0..queue.len())
            .filter(|&i| may_run(&queue, i, &state))
            .collect();
        // a/0's start waits for install; b/0's second change of relation 1 waits for the
        // first; its stop waits for everything.
        assert_eq!(eligible, [0, 2, 3, 4]);
    }

    /// A model with one application `app` and its one unit.
    fn one_unit(app: &str, unit: UnitState) -> ModelState {
        let mut state = ModelState::default();
        let mut a = AppState {
            name: app.into(),
            ..Default::default()
        };
        a.units.insert(unit.name.clone(), unit);
        state.apps.insert(app.into(), a);
        state
    }

    #[test]
    fn a_principal_is_removed_after_its_subordinates() {
        let sub = UnitState {
            name: "sub/0".into(),
            principal: Some("host/0".into()),
            ..Default::default()
        };
        let state = one_unit("sub", sub);
        let queue = VecDeque::from([call("sub/0", Hook::Stop), call("host/0", Hook::Remove)]);
        assert!(!may_run(&queue, 1, &state));
        let queue = VecDeque::from([call("host/0", Hook::Remove)]);
        assert!(may_run(&queue, 0, &state));
    }

    #[test]
    fn the_same_seed_gives_the_same_order() {
        let state = ModelState::default();
        let run = |seed| {
            let mut s = Scheduler::new(Schedule::Shuffled { seed });
            let mut queue: VecDeque<HookCall> = (0..8)
                .map(|n| call(&format!("u/{n}"), Hook::ConfigChanged))
                .collect();
            let mut order = Vec::new();
            while let Some(c) = s.next(&mut queue, Some(&state)) {
                order.push(c.unit);
            }
            order
        };
        assert_eq!(run(7), run(7));
        let orders: std::collections::BTreeSet<_> = (0..6).map(run).collect();
        assert!(orders.len() > 1, "every seed gave the same order");
    }

    #[test]
    fn repeats_and_spurious_hooks_happen_but_not_for_actions_or_dying_units() {
        let started = UnitState {
            name: "a/0".into(),
            started: true,
            ..Default::default()
        };
        let state = one_unit("a", started);
        let mut s = Scheduler::new(Schedule::Shuffled { seed: 1 });
        let empty = VecDeque::new();
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..200 {
            for extra in s.after_success(&call("a/0", changed(1)), &empty, Some(&state)) {
                kinds.insert(extra.hook.label());
            }
        }
        assert!(kinds.contains("relation-changed (1, app)"), "{kinds:?}");
        assert!(kinds.contains("config-changed") && kinds.contains("update-status"));
        let action = Hook::Action {
            name: "x".into(),
            id: "1".into(),
            params: Default::default(),
        };
        let dying = VecDeque::from([call("a/0", Hook::Stop)]);
        for _ in 0..200 {
            assert!(
                s.after_success(&call("a/0", action.clone()), &dying, Some(&state))
                    .is_empty()
            );
        }
    }
}
