//! Rate limits: a token bucket per credential and one per tenant.
//!
//! Every request a `live` or `shadow` credential makes — an API key of
//! either role, or a capability token, counted against its root token so
//! that attenuating one does not mint a fresh allowance — takes one unit
//! from its credential's bucket and one from its tenant's (a batch one per
//! intent), or neither: when either bucket is short, the request is
//! refused with `429 rate_limited` before anything else happens. `test`
//! keys and the superadmin are not limited.
//!
//! Two things keep one credential from spending another's allowance:
//! - A tenant's admin keys draw on a tenant bucket of their own (the same
//!   size as the agents'), so agents flooding the tenant's bucket never
//!   leave its administrators `429` on the call that revokes them.
//! - A capability token that is revoked or expired (any jti of its chain,
//!   checked against the cached revocation list) is charged to a bucket
//!   its root's spent descendants share, never to the root's own: the
//!   holder of a revoked child cannot drain what its root may still do,
//!   and minting more children offline mints no more allowance.
//!
//! The limits are the tenant's (`RateLimits`, superadmin-only settings,
//! documented defaults). On PostgreSQL the buckets live in the database
//! and every replica charges them atomically (`Store::take_rate`), so two
//! replicas hand out exactly what one would; on SQLite, whose file one
//! process owns, they live in this process. If the database cannot be
//! reached, the process's own buckets stand in until it can.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{HeaderMap, HeaderValue};
use lictor_api::api_keys::Environment;
use lictor_api::ids::TenantId;
use lictor_api::tenants::{RateLimit, RateLimits};

use crate::auth::Principal;
use crate::clock::Timestamp;
use crate::error::Error;
use crate::events::{Event, Events};
use crate::pipeline::capability::still_good;
use crate::revocations::RevocationCache;
use crate::store::{Backend, BucketCharge, Store};

/// Buckets kept in memory before idle, full ones are dropped.
const LOCAL_BUCKETS: usize = 4096;

/// One bucket as a request found it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketState {
    /// Its limit.
    pub limit: RateLimit,
    /// The units left after the request (before it, when it was refused).
    pub left: f64,
}

impl BucketState {
    fn rate(&self) -> f64 {
        rate_per_second(self.limit)
    }

    /// Seconds until the bucket is full again.
    fn reset_s(&self) -> u64 {
        let missing = (f64::from(self.limit.burst) - self.left).max(0.0);
        seconds(missing / self.rate())
    }

    /// Seconds until it holds `cost`.
    fn wait_s(&self, cost: f64) -> u64 {
        seconds(((cost - self.left).max(0.0) / self.rate()).max(0.001))
    }

    /// The window of the draft's quota policy: the time a full burst takes
    /// to come back.
    fn window_s(&self) -> u64 {
        seconds(f64::from(self.limit.burst) / self.rate()).max(1)
    }
}

/// Whole seconds, rounded up.
fn seconds(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 { value.ceil() as u64 } else { 0 }
}

fn rate_per_second(limit: RateLimit) -> f64 {
    f64::from(limit.per_minute) / 60.0
}

/// What charging a request found: the credential's bucket, then the
/// tenant's, and whether it was let through.
#[derive(Clone, Debug, PartialEq)]
pub struct RateState {
    /// The credential's bucket and the tenant's.
    pub buckets: [BucketState; 2],
    /// The units the request cost.
    pub cost: u32,
    /// Whether it was let through.
    pub granted: bool,
}

impl RateState {
    /// The bucket the headers describe: the one that refused the request
    /// (the longer wait if both did), or the one closer to empty.
    fn binding(&self) -> &BucketState {
        let [key, tenant] = &self.buckets;
        let cost = f64::from(self.cost);
        if !self.granted {
            let short = |b: &BucketState| b.left < cost;
            return match (short(key), short(tenant)) {
                (true, true) if tenant.wait_s(cost) > key.wait_s(cost) => tenant,
                (false, true) => tenant,
                _ => key,
            };
        }
        if tenant.left < key.left { tenant } else { key }
    }

    /// Seconds to wait before the request can pass (refused requests).
    pub fn retry_after_s(&self) -> u64 {
        let cost = f64::from(self.cost);
        self.buckets.iter().filter(|b| b.left < cost).map(|b| b.wait_s(cost)).max().unwrap_or(0).max(1)
    }

    /// Which bucket refused, for the message.
    pub fn refused_by(&self) -> &'static str {
        let cost = f64::from(self.cost);
        match (self.buckets[0].left < cost, self.buckets[1].left < cost) {
            (true, true) => "the credential's and the tenant's",
            (false, true) => "the tenant's",
            _ => "the credential's",
        }
    }

    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and
    /// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers), and
    /// `Retry-After` when the request was refused.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let binding = self.binding();
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(name, value);
            }
        };
        put("ratelimit-limit", binding.limit.burst.to_string());
        put("ratelimit-remaining", (binding.left.max(0.0).floor() as u64).to_string());
        put("ratelimit-reset", binding.reset_s().to_string());
        put(
            "ratelimit-policy",
            self.buckets
                .iter()
                .map(|b| format!("{};w={}", b.limit.burst, b.window_s()))
                .collect::<Vec<_>>()
                .join(", "),
        );
        if !self.granted {
            put("retry-after", self.retry_after_s().to_string());
        }
        headers
    }
}

/// A bucket counted in this process.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    limit: RateLimit,
}

impl Bucket {
    /// Its tokens at `now` under `limit` (the latest one).
    fn refilled(&self, limit: RateLimit, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * rate_per_second(limit)).min(f64::from(limit.burst))
    }
}

/// The gateway's rate limiter.
#[derive(Debug)]
pub struct RateLimiter {
    store: Store,
    revocations: RevocationCache,
    local: Mutex<HashMap<String, Bucket>>,
    tenants: Mutex<HashMap<TenantId, RateLimits>>,
}

impl RateLimiter {
    /// A limiter over `store`'s tenants (and, on PostgreSQL, its buckets),
    /// whose cached limits `events` keep current; `revocations` tells a
    /// spent capability token from a good one.
    pub fn start(
        store: Store,
        revocations: RevocationCache,
        events: &Events,
    ) -> (Arc<RateLimiter>, tokio::task::JoinHandle<()>) {
        let limiter = Arc::new(RateLimiter {
            store,
            revocations,
            local: Mutex::new(HashMap::new()),
            tenants: Mutex::new(HashMap::new()),
        });
        let mut receiver = events.subscribe();
        let listening = Arc::clone(&limiter);
        let task = tokio::spawn(async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => listening.forget(&event),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        listening.forget(&Event::Resync)
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        (limiter, task)
    }

    /// Forgets cached limits a change event names.
    pub fn forget(&self, event: &Event) {
        let Ok(mut tenants) = self.tenants.lock() else { return };
        match event {
            Event::Tenant { tenant } => {
                tenants.remove(tenant);
            }
            Event::Resync => tenants.clear(),
            _ => {}
        }
    }

    /// The limits in force for `tenant` (the defaults while the store
    /// cannot say).
    pub async fn limits(&self, tenant: &TenantId) -> RateLimits {
        if let Some(limits) = self.tenants.lock().ok().and_then(|t| t.get(tenant).copied()) {
            return limits;
        }
        match self.store.get_tenant(tenant).await {
            Ok(Some(row)) => {
                let limits = row.rate_limits.effective();
                if let Ok(mut tenants) = self.tenants.lock() {
                    tenants.insert(tenant.clone(), limits);
                }
                limits
            }
            Ok(None) | Err(_) => RateLimits::default(),
        }
    }

    /// Charges a request of `cost` units to the credential and its tenant.
    /// `Ok(None)`: not limited; `Ok(Some(state))`: let through;
    /// `Err(Error::RateLimited)`: refused.
    pub async fn charge(&self, principal: &Principal, cost: u32) -> Result<Option<RateState>, Error> {
        let (credential, tenant, pool) = match principal {
            Principal::Superadmin => return Ok(None),
            Principal::Key(key) if key.environment == Environment::Test => return Ok(None),
            Principal::Key(key) if key.role.is_operator() => {
                (format!("key:{}", key.id), &key.tenant, "tenant-admin")
            }
            // A person is charged in the administrators' pool of their one
            // tenant; with several (or as a superadmin) like the superadmin.
            Principal::Operator(operator) => match principal.tenant() {
                Some(tenant) if !operator.superadmin => (operator.identity(), tenant, "tenant-admin"),
                _ => return Ok(None),
            },
            Principal::Key(key) => (format!("key:{}", key.id), &key.tenant, "tenant"),
            Principal::Token(token) => {
                let header = token.header();
                let root = header.root_jti.as_str();
                // The revocation list cannot be read: charge the root, as
                // the pipeline's own check will then fail closed anyway.
                let spent = match self.revocations.revoked(&header.tenant).await {
                    Ok(revoked) => still_good(token, &revoked, Timestamp::now().seconds()).is_err(),
                    Err(_) => false,
                };
                let credential = if spent { format!("spent:{root}") } else { format!("token:{root}") };
                (credential, &header.tenant, "tenant")
            }
        };
        let limits = self.limits(tenant).await;
        let cost = cost.max(1);
        for (whose, limit) in [("credential", limits.per_key), ("tenant", limits.per_tenant)] {
            if cost > limit.burst {
                return Err(Error::InvalidField {
                    path: "$.intents".into(),
                    message: format!(
                        "{cost} intents at once exceed the {whose}'s rate-limit burst of {}: send at most {} at a time",
                        limit.burst, limit.burst
                    ),
                });
            }
        }
        let tenant_scope = format!("{pool}:{tenant}");
        let scopes = [(credential.as_str(), limits.per_key), (tenant_scope.as_str(), limits.per_tenant)];
        let shared = match self.store.backend() {
            Backend::Postgres => {
                let charges = scopes.map(|(scope, limit)| BucketCharge {
                    scope,
                    burst: f64::from(limit.burst),
                    rate: rate_per_second(limit),
                });
                self.store.take_rate([&charges[0], &charges[1]], f64::from(cost)).await.ok()
            }
            Backend::Sqlite => None,
        };
        let (left, granted) = match shared {
            Some(taken) => (taken.left, taken.granted),
            None => take_local(&self.local, scopes, cost),
        };
        let state = RateState {
            buckets: [
                BucketState { limit: limits.per_key, left: left[0] },
                BucketState { limit: limits.per_tenant, left: left[1] },
            ],
            cost,
            granted,
        };
        if granted { Ok(Some(state)) } else { Err(Error::RateLimited(Box::new(state))) }
    }
}

/// Takes `cost` from both of this process's buckets, or from neither.
fn take_local(
    local: &Mutex<HashMap<String, Bucket>>,
    scopes: [(&str, RateLimit); 2],
    cost: u32,
) -> ([f64; 2], bool) {
    let now = Instant::now();
    let cost = f64::from(cost);
    let Ok(mut buckets) = local.lock() else {
        // A poisoned map (a panic while it was held) limits nothing
        // rather than everything.
        return ([0.0, 0.0], true);
    };
    if buckets.len() >= LOCAL_BUCKETS {
        // Full, idle buckets hold nothing a new one would not.
        buckets.retain(|_, b| b.refilled(b.limit, now) < f64::from(b.limit.burst));
    }
    let have = scopes
        .map(|(scope, limit)| buckets.get(scope).map_or(f64::from(limit.burst), |b| b.refilled(limit, now)));
    let granted = have.iter().all(|h| *h >= cost);
    let left = if granted { have.map(|h| h - cost) } else { have };
    for ((scope, limit), tokens) in scopes.into_iter().zip(left) {
        buckets.insert(scope.to_string(), Bucket { tokens, at: now, limit });
    }
    (left, granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(key_left: f64, tenant_left: f64, granted: bool) -> RateState {
        RateState {
            buckets: [
                BucketState { limit: RateLimit { per_minute: 60, burst: 10 }, left: key_left },
                BucketState { limit: RateLimit { per_minute: 600, burst: 100 }, left: tenant_left },
            ],
            cost: 1,
            granted,
        }
    }

    #[test]
    fn headers_describe_the_bucket_closest_to_empty() {
        let headers = state(4.5, 90.0, true).headers();
        assert_eq!(headers["ratelimit-limit"], "10");
        assert_eq!(headers["ratelimit-remaining"], "4");
        // 5.5 units at one a second.
        assert_eq!(headers["ratelimit-reset"], "6");
        assert_eq!(headers["ratelimit-policy"], "10;w=10, 100;w=10");
        assert!(headers.get("retry-after").is_none());
    }

    #[test]
    fn a_refusal_says_when_to_come_back() {
        let refused = state(0.25, 50.0, false);
        let headers = refused.headers();
        assert_eq!(headers["ratelimit-remaining"], "0");
        // 0.75 of a unit at one a second.
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(refused.refused_by(), "the credential's");
        let tenant = state(5.0, 0.0, false);
        assert_eq!(tenant.headers()["ratelimit-limit"], "100");
        assert_eq!(tenant.refused_by(), "the tenant's");
    }

    #[test]
    fn local_buckets_take_from_both_or_neither() {
        let buckets = Mutex::new(HashMap::new());
        // One unit a minute: nothing comes back while the test runs.
        let key = RateLimit { per_minute: 1, burst: 2 };
        let tenant = RateLimit { per_minute: 1, burst: 3 };
        let take = |scope: &str| take_local(&buckets, [(scope, key), ("tenant:t", tenant)], 1);
        assert!(take("key:a").1);
        assert!(take("key:a").1);
        // The key is empty: the tenant is not charged for the refusal.
        assert!(!take("key:a").1);
        assert!(take("key:b").1);
        // Now the tenant is empty too.
        let (left, granted) = take("key:b");
        assert!(!granted);
        assert!(left[1] < 1.0, "{left:?}");
    }
}
