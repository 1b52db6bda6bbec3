//! Filter outcomes and the `FailedScheduling` message built from them (upstream
//! `framework.Status`, `FitError.Error()` and the DefaultPreemption PostFilter message).

use std::collections::BTreeMap;

/// Upstream `framework.Code`, restricted to the rejections a filter can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The node may fit once pods leave it (resources, ports): preemption could help.
    Unschedulable,
    /// Nothing that happens to other pods can make this node fit (taints, affinity, volumes).
    UnschedulableAndUnresolvable,
}

/// One node's rejection: the code and every reason the rejecting plugin gave (a node short of
/// both cpu and memory has two reasons, and each is counted in the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<String>,
}

impl Status {
    pub fn unschedulable(reasons: Vec<String>) -> Status {
        Status { code: Code::Unschedulable, reasons }
    }

    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status { code: Code::UnschedulableAndUnresolvable, reasons: vec![reason.into()] }
    }

    pub fn unresolvable_many(reasons: Vec<String>) -> Status {
        Status { code: Code::UnschedulableAndUnresolvable, reasons }
    }

    /// `Status.Message()`: the reasons joined with ", ".
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}

/// Why no node fits, in the shape upstream's `Diagnosis` has.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// Number of nodes in the snapshot (`NumAllNodes`).
    pub num_all_nodes: usize,
    /// A PreFilter rejection: its message replaces the per-node histogram.
    pub pre_filter_msg: Option<String>,
    /// Statuses of nodes that ran the filters.
    pub node_statuses: Vec<Status>,
    /// Status of every node that did not run the filters (PreFilter rejected the pod, or a
    /// PreFilter result excluded the node).
    pub absent_status: Option<Status>,
}

/// `"<count> <reason>"` for every distinct reason, sorted as Go's `sort.Strings` sorts (bytes),
/// so `"10 Insufficient cpu"` comes before `"2 Insufficient cpu"` exactly as upstream prints it.
fn histogram<'a>(entries: impl Iterator<Item = (&'a str, usize)>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (reason, n) in entries {
        *counts.entry(reason).or_default() += n;
    }
    let mut lines: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    lines.sort();
    lines
}

impl Diagnosis {
    fn absent_count(&self) -> usize {
        self.num_all_nodes.saturating_sub(self.node_statuses.len())
    }

    /// `FitError.Error()` without the PostFilter part: `0/N nodes are available: <msg>.`
    pub fn fit_error(&self) -> String {
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        if let Some(pre) = &self.pre_filter_msg {
            msg.push_str(&format!(" {pre}."));
            return msg;
        }
        let absent = self.absent_count();
        let explicit = self.node_statuses.iter().flat_map(|s| s.reasons.iter().map(|r| (r.as_str(), 1)));
        let implied = self
            .absent_status
            .iter()
            .filter(|_| absent > 0)
            .flat_map(|s| s.reasons.iter().map(move |r| (r.as_str(), absent)));
        let lines = histogram(explicit.chain(implied));
        if !lines.is_empty() {
            msg.push_str(&format!(" {}.", lines.join(", ")));
        }
        msg
    }

    /// True when no node failed for a reason that pods leaving could fix: every explicit and
    /// implied status is `UnschedulableAndUnresolvable`.
    pub fn all_unresolvable(&self) -> bool {
        let explicit = self.node_statuses.iter().all(|s| s.code == Code::UnschedulableAndUnresolvable);
        let absent =
            self.absent_count() == 0 || self.absent_status.as_ref().is_none_or(|s| s.code == Code::UnschedulableAndUnresolvable);
        explicit && absent
    }

    /// The DefaultPreemption PostFilter message (`preemption: …`). berth runs no preemption and
    /// every pod has the default priority, so on a node where preemption might help (an
    /// `Unschedulable` status) the dry run finds no lower-priority victim, as upstream does then.
    pub fn preemption_message(&self, preemption_never: bool) -> String {
        if preemption_never {
            return "preemption: not eligible due to preemptionPolicy=Never.".to_string();
        }
        let absent = self.absent_count();
        let absent_code = self.absent_status.as_ref().map(|s| s.code);
        let mut might_help = self.node_statuses.iter().filter(|s| s.code == Code::Unschedulable).count();
        if absent_code == Some(Code::Unschedulable) {
            might_help += absent;
        }
        let not_helpful = self.num_all_nodes - might_help;
        let mut entries = Vec::new();
        if might_help > 0 {
            entries.push(("No preemption victims found for incoming pod", might_help));
        }
        if not_helpful > 0 {
            entries.push(("Preemption is not helpful for scheduling", not_helpful));
        }
        let lines = histogram(entries.into_iter());
        format!("preemption: 0/{} nodes are available: {}.", self.num_all_nodes, lines.join(", "))
    }

    /// The whole `FailedScheduling` event message (and PodScheduled condition message).
    pub fn message(&self, preemption_never: bool) -> String {
        format!("{} {}", self.fit_error(), self.preemption_message(preemption_never))
    }
}
