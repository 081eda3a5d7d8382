//! The `capability` stage: a capability token's caveats must all hold.
//!
//! Requests authenticated with an API key skip this stage. For a token,
//! every caveat is evaluated against the request (an unknown caveat type
//! never gets this far: the token does not parse). The counting caveats
//! (`max_calls`, `max_usd`, `rate_per_min`) are checked here against a
//! snapshot and again, under lock, by the writer that counts the call — so
//! only allowed calls are ever counted and concurrent calls cannot
//! overshoot.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use lictor_api::intents::{ActionType, Reason, RiskLevel, StageName, StageOutcome, Verdict};

use super::Reads;
use super::budget;
use super::run::Run;
use crate::clock::Timestamp;
use crate::error::Error;

use crate::store::TokenUsage;
use crate::token::{CapabilityToken, Caveat, glob_match};

/// The counting caveats of one scope jti.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeLimits {
    /// The scope jti (where the caveats were added).
    pub scope_jti: String,
    /// Most allowed calls.
    pub max_calls: Option<u64>,
    /// Most summed exposure, in cents.
    pub max_cents: Option<u64>,
    /// Most allowed calls per minute.
    pub rate_per_min: Option<u64>,
}

impl ScopeLimits {
    /// Whether one more call of `cents` fits a scope's counters; the reason
    /// if not.
    pub fn exceeded(&self, usage: TokenUsage, cents: u64) -> Option<Reason> {
        if let Some(max) = self.max_calls
            && usage.calls.saturating_add(1) > max
        {
            return Some(deny(
                "token_max_calls_exceeded",
                format!("the token allows {max} calls and {} were made", usage.calls),
            ));
        }
        if let Some(max) = self.max_cents
            && usage.cents.saturating_add(cents) > max
        {
            return Some(deny(
                "token_max_usd_exceeded",
                format!(
                    "the token allows {:.2} USD and {:.2} USD were used",
                    max as f64 / 100.0,
                    usage.cents as f64 / 100.0
                ),
            ));
        }
        if let Some(max) = self.rate_per_min
            && usage.calls_this_minute.saturating_add(1) > max
        {
            return Some(deny("token_rate_exceeded", format!("the token allows {max} calls per minute")));
        }
        None
    }
}

/// What an allowed call consumes from its capability token's counters,
/// and the jtis whose revocation stops it.
#[derive(Clone, Debug, Default)]
pub struct TokenCharges {
    /// Every jti that revokes the token (re-checked under the write, so a
    /// revocation committed on any replica stops the call).
    pub revocation_jtis: Vec<String>,
    /// Every scope with counting caveats.
    pub scopes: Vec<ScopeLimits>,
    /// The call's financial exposure, in cents.
    pub cents: u64,
}

/// The tool a call targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolTarget {
    /// The upstream server's name.
    pub upstream: String,
    /// The tool's own name.
    pub tool: String,
}

impl ToolTarget {
    /// `<upstream>.<tool>`, the name tokens and policies see.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.upstream, self.tool)
    }
}

/// What the caveats are checked against.
#[derive(Clone, Debug)]
pub struct CapabilityRequest<'a> {
    /// The request's action type.
    pub action_type: ActionType,
    /// The tool, for tool calls.
    pub tool: Option<&'a ToolTarget>,
    /// The request's risk level (for `step_up`).
    pub risk_level: RiskLevel,
    /// Now, in Unix seconds (as tokens count time).
    pub now: i64,
    /// This gateway's audience.
    pub audience: &'a str,
    /// How long after `step_up.at` high-risk actions stay allowed.
    pub step_up_window: Duration,
    /// The request's financial exposure, in cents.
    pub cents: u64,
}

/// Checks a token's caveats against the request and its counters against
/// a snapshot (the writer checks them again under lock). API keys skip it.
pub(super) async fn run<R: Reads>(run: &mut Run<'_, R>) -> Result<StageOutcome, Error> {
    let sub = run.sub;
    let (Some(token), Verdict::Approve) = (&sub.token, run.verdict) else {
        return Ok(StageOutcome::Skip);
    };
    let revoked = run.reads.revoked(&sub.tenant).await?;
    let request = CapabilityRequest {
        action_type: sub.request.intent.action.action_type,
        tool: sub.tool.as_ref(),
        risk_level: run.risk().level,
        now: sub.created_at.seconds(),
        audience: &run.settings.audience,
        step_up_window: run.settings.step_up_window,
        cents: to_cents(run.exposure_usd),
    };
    match check(token, &revoked, &request) {
        Ok(charges) => {
            let minute = budget::minute_of(Timestamp::now());
            for scope in &charges.scopes {
                let usage = run.reads.token_usage(&sub.tenant, &scope.scope_jti, minute).await?;
                if let Some(reason) = scope.exceeded(usage, charges.cents) {
                    run.settle(Verdict::Block, StageName::Capability, reason);
                    break;
                }
            }
            run.token_charges = Some(charges);
        }
        Err(reason) => run.settle(Verdict::Block, StageName::Capability, reason),
    }
    Ok(run.outcome())
}

fn deny(code: &str, message: String) -> Reason {
    Reason { stage: StageName::Capability, code: code.into(), message }
}

/// Whether `token` may still be used at all at `now` (Unix seconds): none
/// of its jtis revoked, none of its expiries passed. What reads require of
/// a token; decisions check it first, then every other caveat.
pub fn still_good(token: &CapabilityToken, revoked: &HashSet<String>, now: i64) -> Result<(), Reason> {
    if let Some(jti) = token.revocation_jtis().into_iter().find(|jti| revoked.contains(*jti)) {
        return Err(deny("token_revoked", format!("jti `{jti}` of this token was revoked")));
    }
    for (_, caveat) in token.scoped_caveats() {
        if let Caveat::Expires { at } = caveat
            && now >= *at
        {
            return Err(deny("token_expired", format!("the token expired at {at} (Unix seconds)")));
        }
    }
    Ok(())
}

/// Evaluates every caveat but the counters' current values; answers the
/// counters to check and charge, or the first caveat that fails.
pub fn check(
    token: &CapabilityToken,
    revoked: &HashSet<String>,
    request: &CapabilityRequest<'_>,
) -> Result<TokenCharges, Reason> {
    still_good(token, revoked, request.now)?;
    let tool_name = request.tool.map(ToolTarget::full_name);
    let mut scopes: BTreeMap<&str, ScopeLimits> = BTreeMap::new();
    for (scope, caveat) in token.scoped_caveats() {
        match caveat {
            // Checked by `still_good`, above.
            Caveat::Expires { .. } => {}
            Caveat::Tools { allow, deny: denied } => {
                let Some(name) = &tool_name else {
                    return Err(deny("token_restricted_to_tools", "this token may only call tools".into()));
                };
                if !allow.iter().any(|p| glob_match(p, name)) {
                    return Err(deny("tool_not_allowed", format!("the token does not allow tool `{name}`")));
                }
                if let Some(pattern) = denied.iter().find(|p| glob_match(p, name)) {
                    return Err(deny("tool_denied", format!("the token denies tool `{name}` (`{pattern}`)")));
                }
            }
            Caveat::Servers { allow } => {
                let Some(tool) = request.tool else {
                    return Err(deny("token_restricted_to_tools", "this token may only call tools".into()));
                };
                if !allow.contains(&tool.upstream) {
                    return Err(deny(
                        "server_not_allowed",
                        format!("the token does not allow upstream `{}`", tool.upstream),
                    ));
                }
            }
            Caveat::ActionTypes { allow } => {
                if !allow.contains(&request.action_type) {
                    return Err(deny(
                        "action_type_not_allowed",
                        format!("the token does not allow `{}` actions", request.action_type.as_str()),
                    ));
                }
            }
            Caveat::StepUp { at } => {
                let high = matches!(request.risk_level, RiskLevel::High | RiskLevel::Critical);
                let window = i64::try_from(request.step_up_window.as_secs()).unwrap_or(i64::MAX);
                if high && request.now.saturating_sub(*at) > window {
                    return Err(deny(
                        "step_up_required",
                        "high-risk actions need a step-up authentication younger than the token's".into(),
                    ));
                }
            }
            Caveat::Audience { aud } => {
                if aud != request.audience {
                    return Err(deny(
                        "audience_mismatch",
                        format!("the token is for audience `{aud}`, this gateway is `{}`", request.audience),
                    ));
                }
            }
            Caveat::MaxCalls { n } => {
                let limits = scope_of(&mut scopes, scope);
                limits.max_calls = Some(min_opt(limits.max_calls, *n));
            }
            Caveat::MaxUsd { cents } => {
                let limits = scope_of(&mut scopes, scope);
                limits.max_cents = Some(min_opt(limits.max_cents, *cents));
            }
            Caveat::RatePerMin { n } => {
                let limits = scope_of(&mut scopes, scope);
                limits.rate_per_min = Some(min_opt(limits.rate_per_min, *n));
            }
            Caveat::Hop { .. } => {}
        }
    }
    Ok(TokenCharges {
        revocation_jtis: token.revocation_jtis().into_iter().map(str::to_string).collect(),
        scopes: scopes.into_values().collect(),
        cents: request.cents,
    })
}

fn scope_of<'a, 'b>(scopes: &'b mut BTreeMap<&'a str, ScopeLimits>, scope: &'a str) -> &'b mut ScopeLimits {
    scopes
        .entry(scope)
        .or_insert_with(|| ScopeLimits { scope_jti: scope.to_string(), ..ScopeLimits::default() })
}

fn min_opt(current: Option<u64>, new: u64) -> u64 {
    current.map_or(new, |c| c.min(new))
}

/// Dollars as whole cents (rounded to the nearest cent).
pub(crate) fn to_cents(usd: f64) -> u64 {
    (usd * 100.0).round().clamp(0.0, 9_007_199_254_740_991.0) as u64
}
