//! The replicas of one upstream: which one takes the next request (the one with the fewest
//! requests outstanding, ties taken in turn), and which are set aside for a cool-down after
//! consecutive connect failures or 5xx answers.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tollgate_domain::catalog::HttpUpstream;

use crate::gateway::request::Endpoint;

pub struct Replica {
    pub base_url: String,
    /// `base_url` + each endpoint's path, parsed once (`None`: not a URL; each request then
    /// fails to send, as it would with the text).
    chat_url: Option<reqwest::Url>,
    completions_url: Option<reqwest::Url>,
    outstanding: AtomicUsize,
    failures: AtomicU32,
    /// Milliseconds since the pool's `epoch` until which the replica is set aside (0: never).
    ejected_until: AtomicU64,
}

pub struct Pool {
    pub config: HttpUpstream,
    /// `Authorization: Bearer <api_key>`, built once.
    pub authorization: Option<reqwest::header::HeaderValue>,
    pub replicas: Vec<Replica>,
    /// Where the search for the least busy replica starts, moved on every pick, so that idle
    /// replicas share the load rather than the first taking it all.
    turn: AtomicUsize,
    epoch: Instant,
}

/// A request outstanding on a replica, until dropped.
pub struct InFlight {
    pool: Arc<Pool>,
    index: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(r) = self.pool.replicas.get(self.index) {
            r.outstanding.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Replica {
    /// Where `endpoint` is on this replica, parsed once.
    pub fn url(&self, endpoint: Endpoint) -> Option<&reqwest::Url> {
        match endpoint {
            Endpoint::Chat => self.chat_url.as_ref(),
            Endpoint::Completions => self.completions_url.as_ref(),
        }
    }
}

impl InFlight {
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn replica(&self) -> &Replica {
        &self.pool.replicas[self.index]
    }

    /// The replica answered sensibly: its failure count starts again.
    pub fn succeeded(&self) {
        self.replica().failures.store(0, Ordering::Relaxed);
    }

    /// A connect failure or a 5xx: enough of them in a row set the replica aside.
    pub fn failed(&self) {
        let r = self.replica();
        let failures = r.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if failures >= self.pool.config.eject_after {
            let until = self
                .pool
                .now_ms()
                .saturating_add(self.pool.config.eject_for_ms);
            r.ejected_until.store(until.max(1), Ordering::Relaxed);
            r.failures.store(0, Ordering::Relaxed);
            tracing::warn!(
                replica = %r.base_url,
                seconds = self.pool.config.eject_for_ms / 1000,
                "upstream replica set aside after {failures} failures in a row"
            );
        }
    }
}

impl Pool {
    pub fn new(config: HttpUpstream) -> Arc<Self> {
        let replicas = config
            .base_urls
            .iter()
            .map(|u| Replica {
                chat_url: reqwest::Url::parse(&format!("{u}{}", Endpoint::Chat.path())).ok(),
                completions_url: reqwest::Url::parse(&format!(
                    "{u}{}",
                    Endpoint::Completions.path()
                ))
                .ok(),
                base_url: u.clone(),
                outstanding: AtomicUsize::new(0),
                failures: AtomicU32::new(0),
                ejected_until: AtomicU64::new(0),
            })
            .collect();
        let authorization = config.api_key.as_ref().and_then(|key| {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        Arc::new(Self {
            config,
            authorization,
            replicas,
            turn: AtomicUsize::new(0),
            epoch: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The replica for the next attempt, skipping those in `tried`: the least busy of those in
    /// service; when all are set aside, the one whose cool-down ends first (trying it beats
    /// refusing the request). `None` when every replica was tried.
    pub fn pick(self: &Arc<Self>, tried: &[usize]) -> Option<InFlight> {
        let n = self.replicas.len();
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        let candidates = (0..n)
            .map(|i| (start.wrapping_add(i)) % n)
            .filter(|i| !tried.contains(i));
        let mut in_service: Option<(usize, usize)> = None;
        let mut soonest_back: Option<(u64, usize)> = None;
        for i in candidates {
            let r = &self.replicas[i];
            let until = r.ejected_until.load(Ordering::Relaxed);
            if until > now {
                if soonest_back.is_none_or(|(u, _)| until < u) {
                    soonest_back = Some((until, i));
                }
                continue;
            }
            let busy = r.outstanding.load(Ordering::Relaxed);
            if in_service.is_none_or(|(b, _)| busy < b) {
                in_service = Some((busy, i));
            }
        }
        let index = in_service
            .map(|(_, i)| i)
            .or(soonest_back.map(|(_, i)| i))?;
        self.replicas[index]
            .outstanding
            .fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            pool: self.clone(),
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_domain::catalog::Timeouts;

    fn pool(n: usize, eject_after: u32) -> Arc<Pool> {
        Pool::new(HttpUpstream {
            base_urls: (0..n).map(|i| format!("http://r{i}")).collect(),
            api_key: None,
            model: None,
            timeouts: Timeouts::default(),
            eject_after,
            eject_for_ms: 60_000,
        })
    }

    #[test]
    fn the_least_busy_replica_is_picked_and_idle_ones_take_turns() {
        let p = pool(3, 3);
        let a = p.pick(&[]).unwrap();
        let b = p.pick(&[]).unwrap();
        let c = p.pick(&[]).unwrap();
        let mut used = [a.index, b.index, c.index];
        used.sort_unstable();
        assert_eq!(used, [0, 1, 2], "one each");
        drop(b);
        let freed = p
            .replicas
            .iter()
            .position(|r| r.outstanding.load(Ordering::Relaxed) == 0);
        let d = p.pick(&[]).unwrap();
        assert_eq!(Some(d.index), freed, "the idle one");
        assert!(p.pick(&[0, 1, 2]).is_none());
        let e = p.pick(&[d.index]).unwrap();
        assert_ne!(e.index, d.index);
    }

    #[test]
    fn failing_replicas_are_set_aside_then_used_only_when_nothing_else_is_left() {
        let p = pool(2, 2);
        let first = p.pick(&[]).unwrap();
        let bad = first.index;
        first.failed();
        first.succeeded();
        first.failed();
        let aside = |i: usize| p.replicas[i].ejected_until.load(Ordering::Relaxed) > 0;
        assert!(!aside(bad), "the count was reset by a success");
        first.failed();
        assert!(aside(bad));
        drop(first);
        for _ in 0..5 {
            assert_ne!(p.pick(&[]).unwrap().index, bad, "set aside");
        }
        let other = 1 - bad;
        assert_eq!(p.pick(&[other]).unwrap().index, bad, "the last resort");
    }
}
