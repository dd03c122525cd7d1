//! What the decision stage hands on: one decided finding ([`Record`]), and where records go
//! ([`Sink`]: stdout in the CLI, the destinations in the Lambda, the dedup stage in front of
//! them).

use std::future::Future;
use std::io;

use crate::classify::Classification;
use crate::decide::Decision;
use crate::decide::rules::RulesConfig;
use crate::export::finding::Finding;

/// One classified, decided finding, as handed to a [`Sink`].
#[derive(Debug)]
pub struct Record<'r> {
    /// Where it was read (display form of the source).
    pub source: &'r str,
    /// 1-based line in the decompressed object.
    pub line: u64,
    /// The parsed finding.
    pub finding: &'r Finding<'r>,
    /// Its classification.
    pub class: &'r Classification<'r>,
    /// The decision.
    pub decision: Decision<'r>,
    /// The line as read, for forwarding.
    pub raw: &'r str,
    /// The account's name from the rules file's `[accounts]`, if any.
    pub account_name: Option<&'r str>,
    /// The rules file that decided, if any (destination names for [`Decision::Routed`]).
    pub rules: Option<&'r RulesConfig>,
}

/// Where decided findings go: stdout in the CLI, a destination in the Lambda.
///
/// `record` is called for every finding (alerts and suppressed) on the pipeline's task and must
/// not block for long; `flush` is called after every chunk of a few hundred findings and at the
/// end of each source, which is where an output that delivers over the network sends what it
/// has gathered. An `Err` stops the current source.
pub trait Sink {
    /// One decided finding.
    fn record(&mut self, record: &Record<'_>) -> io::Result<()>;
    /// The decided findings of one chunk, in line order (the pipeline hands records this way,
    /// then calls [`Sink::flush`]). By default each goes to [`Sink::record`]; a sink that must
    /// await before handing them on (the dedup stage claims them in one batch) overrides this,
    /// and a sink that wraps another passes the batch on whole.
    fn records(&mut self, batch: &[Record<'_>]) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(batch.iter().try_for_each(|r| self.record(r)))
    }
    /// Deliver or write out what is buffered. An output may leave deliveries in flight here
    /// (so that sending overlaps reading); [`Sink::finish`] waits for them.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        async { Ok(()) }
    }
    /// Called once at the end of each source, whether it was read to its end or broke off:
    /// deliver everything and wait until every delivery has an outcome.
    fn finish(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        self.flush()
    }
}

/// Two outputs in turn: every record goes to both; `flush` flushes the first, then the second.
impl<A: Sink + Send, B: Sink + Send> Sink for (A, B) {
    fn record(&mut self, record: &Record<'_>) -> io::Result<()> {
        self.0.record(record)?;
        self.1.record(record)
    }

    async fn records(&mut self, batch: &[Record<'_>]) -> io::Result<()> {
        self.0.records(batch).await?;
        self.1.records(batch).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.0.flush().await?;
        self.1.flush().await
    }

    async fn finish(&mut self) -> io::Result<()> {
        let first = self.0.finish().await;
        let second = self.1.finish().await;
        first.and(second)
    }
}

/// What an output can say after [`Sink::finish`] about what it failed to deliver.
pub trait DeliveryFailures {
    /// Finding ids that were not delivered to some destination, and whether a digest (whose
    /// findings are not all named) failed.
    fn failed_findings(&self) -> (std::collections::HashSet<String>, bool);
}
