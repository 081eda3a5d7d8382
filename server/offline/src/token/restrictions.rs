//! From what someone asks a token to be limited to, to its caveats: the
//! one builder behind the mint endpoint, `lictor token attenuate` and the
//! Rust SDK's `attenuate`, so the three accept the same requests and write
//! the same caveats in the same order.

use lictor_api::intents::ActionType;

use super::Caveat;
use super::format::MAX_INTEGER;

/// The limits asked for. `None` (or an empty `expires`) adds nothing; an
/// empty list where one is given is refused, since a caveat that allows
/// nothing is a mistake rather than a limit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Restrictions {
    /// Invalid at or after these Unix seconds (each its own caveat: the
    /// earliest wins, as every caveat must hold).
    pub expires: Vec<i64>,
    /// Globs of tools it may call.
    pub tools: Option<Vec<String>>,
    /// Globs of tools it may never call; alone, it allows every other tool.
    pub deny_tools: Option<Vec<String>>,
    /// Upstream servers it may reach.
    pub servers: Option<Vec<String>>,
    /// Action types it may declare or call.
    pub action_types: Option<Vec<ActionType>>,
    /// Most allowed calls.
    pub max_calls: Option<u64>,
    /// Most summed financial exposure, in US dollars (kept in whole cents,
    /// rounded to the nearest cent).
    pub max_usd: Option<f64>,
    /// Most allowed calls per minute.
    pub rate_per_min: Option<u64>,
    /// High-risk actions only within the gateway's step-up window after
    /// these Unix seconds.
    pub step_up_at: Option<i64>,
    /// Only at the gateway with this audience.
    pub audience: Option<String>,
}

/// A request the builder refuses: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RestrictionError {
    /// The field, as [`Restrictions`] names it (`max_calls`).
    pub field: &'static str,
    /// Lowercase, with the field in backticks.
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> RestrictionError {
    RestrictionError { field, message: message.into() }
}

/// US dollars as whole cents, rounded to the nearest cent: finite,
/// non-negative and at most 2^53 − 1 cents, as the token format allows.
pub fn usd_to_cents(usd: f64) -> Result<u64, RestrictionError> {
    let cents = (usd * 100.0).round();
    if !cents.is_finite() || cents < 0.0 || cents > MAX_INTEGER as f64 {
        return Err(refuse(
            "max_usd",
            format!("`max_usd` must be a non-negative amount of dollars, not `{usd}`"),
        ));
    }
    Ok(cents as u64)
}

fn non_empty(field: &'static str, list: &Option<Vec<String>>, what: &str) -> Result<(), RestrictionError> {
    match list {
        Some(items) if items.is_empty() => {
            Err(refuse(field, format!("`{field}` must name at least one {what}")))
        }
        _ => Ok(()),
    }
}

fn at_least_one(field: &'static str, n: Option<u64>) -> Result<(), RestrictionError> {
    match n {
        Some(0) => Err(refuse(field, format!("`{field}` must be at least 1"))),
        _ => Ok(()),
    }
}

impl Restrictions {
    /// The caveats, in a fixed order: expiry, tools, servers, action types,
    /// call count, money, rate, step-up, audience.
    pub fn to_caveats(&self) -> Result<Vec<Caveat>, RestrictionError> {
        non_empty("tools", &self.tools, "pattern")?;
        non_empty("servers", &self.servers, "upstream")?;
        if self.action_types.as_ref().is_some_and(Vec::is_empty) {
            return Err(refuse("action_types", "`action_types` must name at least one type"));
        }
        at_least_one("max_calls", self.max_calls)?;
        at_least_one("rate_per_min", self.rate_per_min)?;
        let mut caveats: Vec<Caveat> = self.expires.iter().map(|&at| Caveat::Expires { at }).collect();
        let deny = self.deny_tools.clone().unwrap_or_default();
        match &self.tools {
            Some(allow) => caveats.push(Caveat::Tools { allow: allow.clone(), deny }),
            None if !deny.is_empty() => caveats.push(Caveat::Tools { allow: vec!["*".into()], deny }),
            None => {}
        }
        if let Some(allow) = &self.servers {
            caveats.push(Caveat::Servers { allow: allow.clone() });
        }
        if let Some(allow) = &self.action_types {
            caveats.push(Caveat::ActionTypes { allow: allow.clone() });
        }
        if let Some(n) = self.max_calls {
            caveats.push(Caveat::MaxCalls { n });
        }
        if let Some(usd) = self.max_usd {
            caveats.push(Caveat::MaxUsd { cents: usd_to_cents(usd)? });
        }
        if let Some(n) = self.rate_per_min {
            caveats.push(Caveat::RatePerMin { n });
        }
        if let Some(at) = self.step_up_at {
            caveats.push(Caveat::StepUp { at });
        }
        if let Some(aud) = &self.audience {
            caveats.push(Caveat::Audience { aud: aud.clone() });
        }
        Ok(caveats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_becomes_its_caveat_in_order() {
        let request = Restrictions {
            expires: vec![1_900_000_000],
            tools: Some(vec!["mail.*".into()]),
            deny_tools: Some(vec!["mail.delete_*".into()]),
            servers: Some(vec!["mail".into()]),
            action_types: Some(vec![ActionType::Access]),
            max_calls: Some(3),
            max_usd: Some(12.5),
            rate_per_min: Some(10),
            step_up_at: Some(1_800_000_000),
            audience: Some("lictor".into()),
        };
        assert_eq!(
            request.to_caveats(),
            Ok(vec![
                Caveat::Expires { at: 1_900_000_000 },
                Caveat::Tools { allow: vec!["mail.*".into()], deny: vec!["mail.delete_*".into()] },
                Caveat::Servers { allow: vec!["mail".into()] },
                Caveat::ActionTypes { allow: vec![ActionType::Access] },
                Caveat::MaxCalls { n: 3 },
                Caveat::MaxUsd { cents: 1250 },
                Caveat::RatePerMin { n: 10 },
                Caveat::StepUp { at: 1_800_000_000 },
                Caveat::Audience { aud: "lictor".into() },
            ])
        );
        assert_eq!(Restrictions::default().to_caveats(), Ok(vec![]));
    }

    #[test]
    fn deny_alone_allows_every_other_tool() {
        let request = Restrictions { deny_tools: Some(vec!["x.*".into()]), ..Restrictions::default() };
        assert_eq!(
            request.to_caveats(),
            Ok(vec![Caveat::Tools { allow: vec!["*".into()], deny: vec!["x.*".into()] }])
        );
        let empty = Restrictions { deny_tools: Some(vec![]), ..Restrictions::default() };
        assert_eq!(empty.to_caveats(), Ok(vec![]));
    }

    #[test]
    fn limits_that_allow_nothing_are_refused_by_field() {
        let field = |r: Restrictions| r.to_caveats().unwrap_err().field;
        assert_eq!(field(Restrictions { max_calls: Some(0), ..Default::default() }), "max_calls");
        assert_eq!(field(Restrictions { rate_per_min: Some(0), ..Default::default() }), "rate_per_min");
        assert_eq!(field(Restrictions { tools: Some(vec![]), ..Default::default() }), "tools");
        assert_eq!(field(Restrictions { servers: Some(vec![]), ..Default::default() }), "servers");
        assert_eq!(field(Restrictions { action_types: Some(vec![]), ..Default::default() }), "action_types");
        for bad in [-0.01, f64::NAN, f64::INFINITY, 1e17] {
            assert_eq!(field(Restrictions { max_usd: Some(bad), ..Default::default() }), "max_usd", "{bad}");
        }
    }

    #[test]
    fn dollars_round_to_the_nearest_cent() {
        assert_eq!(usd_to_cents(12.345), Ok(1235));
        assert_eq!(usd_to_cents(12.344), Ok(1234));
        assert_eq!(usd_to_cents(0.005), Ok(1));
        assert_eq!(usd_to_cents(25.0), Ok(2500));
        assert_eq!(usd_to_cents(0.0), Ok(0));
    }
}
