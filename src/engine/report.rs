//! Run reports (per node: calls, items, time) and progress bars.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;

/// Statistics of one node in one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeStats {
    /// The node's path, `outer/inner/node`.
    pub node: String,
    /// Calls of its singular or batch implementation.
    pub calls: u64,
    /// Items processed (rows; equal to `calls` plus `cache_hits` for
    /// singular calls).
    pub items: u64,
    /// Items whose results came from the [cache](crate::cache) (the node
    /// did not run for them).
    pub cache_hits: u64,
    /// Total wall time spent in the node.
    pub total: Duration,
}

impl NodeStats {
    /// Mean time per item.
    pub fn mean_per_item(&self) -> Duration {
        if self.items == 0 {
            Duration::ZERO
        } else {
            self.total / self.items as u32
        }
    }
}

/// Per-node statistics of a run, printable as a table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunReport {
    /// One entry per node, in the order nodes first ran.
    pub nodes: Vec<NodeStats>,
}

impl RunReport {
    /// The statistics of the node at `path`.
    pub fn node(&self, path: &str) -> Option<&NodeStats> {
        self.nodes.iter().find(|n| n.node == path)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.nodes.iter().map(|n| n.node.len()).max().unwrap_or(4).max(4);
        writeln!(
            f,
            "| {:width$} | {:>8} | {:>9} | {:>9} | {:>12} | {:>12} |",
            "node", "calls", "items", "cached", "total", "mean/item"
        )?;
        writeln!(
            f,
            "|{}|{}|{}|{}|{}|{}|",
            "-".repeat(width + 2),
            "-".repeat(10),
            "-".repeat(11),
            "-".repeat(11),
            "-".repeat(14),
            "-".repeat(14)
        )?;
        for n in &self.nodes {
            writeln!(
                f,
                "| {:width$} | {:>8} | {:>9} | {:>9} | {:>12} | {:>12} |",
                n.node,
                n.calls,
                n.items,
                n.cache_hits,
                format!("{:.3?}", n.total),
                format!("{:.3?}", n.mean_per_item()),
            )?;
        }
        Ok(())
    }
}

/// Collects node statistics from one run (from any thread), and optionally
/// draws a counting bar per mapped node as items complete.
#[derive(Default)]
pub(crate) struct Recorder {
    nodes: Mutex<Vec<NodeStats>>,
    progress: Option<Progress>,
    /// Per mapped node: its counter and the items it took from the cache.
    counters: Mutex<Vec<(String, ProgressBar, AtomicU64)>>,
}

impl Recorder {
    /// A recorder that also shows item counters (see [`Recorder::advance`]).
    pub(crate) fn with_progress(enabled: bool) -> Self {
        Recorder {
            progress: Some(Progress::new(enabled)),
            ..Recorder::default()
        }
    }

    /// Counts `items` more finished items of `node`, `cached` of them from
    /// the cache, on its counter, for engines that do not know a map's
    /// length in advance.
    pub(crate) fn advance(&self, node: &str, items: u64, cached: u64) {
        let Some(progress) = &self.progress else {
            return;
        };
        let mut counters = self.counters.lock();
        let at = match counters.iter().position(|(name, ..)| name == node) {
            Some(at) => at,
            None => {
                counters.push((node.to_string(), progress.counter(node), AtomicU64::new(0)));
                counters.len() - 1
            }
        };
        let (_, bar, hits) = &counters[at];
        advance(bar, hits, items, cached);
    }

    /// Adds a call site's `calls` and cache `hits` over `items` items,
    /// which took `time`.
    pub(crate) fn record(&self, node: &str, calls: u64, hits: u64, items: u64, time: Duration) {
        let mut nodes = self.nodes.lock();
        match nodes.iter_mut().find(|n| n.node == node) {
            Some(stats) => {
                stats.calls += calls;
                stats.cache_hits += hits;
                stats.items += items;
                stats.total += time;
            }
            None => nodes.push(NodeStats {
                node: node.into(),
                calls,
                items,
                cache_hits: hits,
                total: time,
            }),
        }
    }

    pub(crate) fn finish(self) -> RunReport {
        for (_, bar, _) in self.counters.into_inner() {
            bar.finish();
        }
        RunReport {
            nodes: self.nodes.into_inner(),
        }
    }
}

/// Moves `bar` on by `items`, of which `cached` came from the cache: the
/// bar counts those separately (`hits` so far), as "N from cache".
pub(crate) fn advance(bar: &ProgressBar, hits: &AtomicU64, items: u64, cached: u64) {
    bar.inc(items);
    if cached > 0 {
        let hits = hits.fetch_add(cached, Ordering::Relaxed) + cached;
        bar.set_message(format!("{hits} from cache"));
    }
}

/// Progress bars for mapped nodes; drawn only on a terminal and when enabled.
pub(crate) struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Self {
        let target = ProgressDrawTarget::stderr();
        Progress {
            multi: (enabled && !target.is_hidden()).then(|| MultiProgress::with_draw_target(target)),
        }
    }

    /// A bar for `items` items of `node`; hidden if progress is off.
    pub(crate) fn bar(&self, node: &str, items: u64) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let style = ProgressStyle::with_template("{prefix:>32} [{bar:30}] {pos}/{len} {msg} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        multi.add(ProgressBar::new(items).with_style(style).with_prefix(node.to_string()))
    }

    /// A counter of finished items of `node`, for maps of unknown length;
    /// hidden if progress is off.
    pub(crate) fn counter(&self, node: &str) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let style = ProgressStyle::with_template("{prefix:>32} {spinner} {pos} items {msg} ({per_sec}, {elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        multi.add(ProgressBar::no_length().with_style(style).with_prefix(node.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_counts_every_item_and_names_those_from_the_cache() {
        let (bar, hits) = (ProgressBar::hidden(), AtomicU64::new(0));
        advance(&bar, &hits, 32, 0);
        assert_eq!((bar.position(), bar.message()), (32, String::new()));
        advance(&bar, &hits, 10, 10);
        advance(&bar, &hits, 4, 4);
        assert_eq!((bar.position(), bar.message()), (46, "14 from cache".to_string()));
    }
}
