//! Property cases: invariants checked over generated intents and tool calls
//! (proptest strategies, driven by the run's seed).
//!
//! Each case draws `--property-cases` inputs from proptest strategies with a
//! ChaCha generator seeded from the run's seed and the case's id, so
//! `--seed N --only <case id>` draws the same inputs again, whatever else
//! runs. The inputs are sent to the deployment one by one, in order; there
//! is no shrinking. Every failure names the seed, the input's index, the
//! input in full, what broke and the command that reruns the case, with a
//! `curl` reproducing the request that showed it.
//!
//! Each case registers agents of its own (unique ids), so budgets, approval
//! queues and audit listings are not shared with other cases.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{StreamExt as _, TryStreamExt as _};
use lictor_client::{Attenuation, DeclareOptions, ErrorCode, Gateway, attenuate, types};
use lictor_offline::audit::checkpoint::Checkpoint;
use lictor_offline::audit::{digest_json, merkle};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::Serialize;
use serde_json::{Value, json};

use super::mcp::mcp_repro;
use crate::{Case, CaseFuture, Context, Failure, Group, Outcome, UPSTREAM, curl};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: ONE_VERDICT,
            group: Group::Intents,
            title: "generated intents: one verdict each, HTTP 200, the same verdict and reasons when declared again and when read back",
            disruptive: false,
            operations: &["intent_declare", "intent_decision_get", "agent_create"],
            run: one_verdict,
        },
        Case {
            id: SHADOW_AND_TEST,
            group: Group::Intents,
            title: "generated intents: shadow answers approve with the live verdict as would-be and audits it; test gives the live verdict and audits nothing",
            disruptive: false,
            operations: &["intent_declare", "audit_list"],
            run: shadow_and_test,
        },
        Case {
            id: BUDGETS,
            group: Group::Intents,
            title: "generated intents: only approved intents consume an agent's budget, and none goes past it",
            disruptive: false,
            operations: &["intent_declare", "agent_create", "agent_get", "agent_update"],
            run: budgets,
        },
        Case {
            id: ATTENUATION,
            group: Group::Tokens,
            title: "generated attenuations: a child token is never more permissive than its parent, and dies with it",
            disruptive: false,
            operations: &["token_mint", "token_revoke", "revocation_list", "intent_declare"],
            run: attenuation_never_widens,
        },
        Case {
            id: TOOL_CALLS,
            group: Group::Mcp,
            title: "generated tool calls: one outcome each; only approved calls reach the upstream, once, with the approved arguments",
            disruptive: false,
            operations: &["tool_call", "mcp_message_send", "token_mint"],
            run: tool_calls,
        },
        Case {
            id: PROVABLE,
            group: Group::Audit,
            title: "generated decisions: each audited one has an inclusion proof to a signed checkpoint, and its entry hashes to its hash",
            disruptive: false,
            operations: &["audit_inclusion_proof", "audit_checkpoint_latest", "public_keys", "audit_list"],
            run: every_decision_is_provable,
        },
        Case {
            id: EXPORT,
            group: Group::Audit,
            title: "generated decisions: NDJSON and CSV exports verify offline and hold every audited one, and no test one",
            disruptive: false,
            operations: &["audit_export", "public_keys"],
            run: export_verifies,
        },
        Case {
            id: ISOLATION,
            group: Group::Auth,
            title: "generated intents in two tenants: neither tenant's admin can read or list the other's intents, entries or agents",
            disruptive: false,
            operations: &[
                "intent_declare",
                "intent_decision_get",
                "intent_audit_list",
                "intent_list",
                "audit_list",
                "agent_list",
                "agent_get",
                "agent_create",
                "api_key_create",
                "api_key_revoke",
            ],
            run: tenant_isolation,
        },
    ]
}

const ONE_VERDICT: &str = "intents.property_one_verdict";
const SHADOW_AND_TEST: &str = "intents.property_shadow_and_test";
const BUDGETS: &str = "intents.property_budgets";
const ATTENUATION: &str = "tokens.property_attenuation_never_widens";
const TOOL_CALLS: &str = "mcp.property_tool_calls";
const PROVABLE: &str = "audit.property_every_decision_is_provable";
const EXPORT: &str = "audit.property_export_verifies";
const ISOLATION: &str = "auth.property_tenant_isolation";

/// Pages a listing scan reads at most (500 items each).
const MAX_PAGES: usize = 20;

// --- reporting ---------------------------------------------------------------

/// How to rerun a case: its seed and id.
#[derive(Clone, Copy)]
struct Rerun {
    seed: u64,
    case: &'static str,
    cases: u32,
}

impl Rerun {
    /// The command that draws the same inputs again.
    fn command(&self) -> String {
        let mut command = format!("lictor-conformance --seed {} --only {}", self.seed, self.case);
        // `--property-cases` only when it is not the default.
        if self.cases != crate::Selection::default().property_cases {
            command.push_str(&format!(" --property-cases {}", self.cases));
        }
        command
    }

    /// A failure that concerns no single input (setting the case up, or a
    /// check over every input).
    fn fail(&self, what: impl Display, curl: Option<String>) -> Failure {
        Failure { message: format!("seed {}: {what}; rerun: {}", self.seed, self.command()), curl }
    }

    /// The report of generated input `index`.
    fn trial(&self, index: u32, input: &impl Serialize) -> Trial {
        self.labelled(format!("input #{index}"), input)
    }

    /// The report of a request the case adds after its generated inputs.
    fn labelled(&self, label: String, input: &impl Serialize) -> Trial {
        Trial { rerun: *self, label, input: serde_json::to_string(input).unwrap_or_default() }
    }
}

/// One input: its failures name the seed, the input's index and the input.
struct Trial {
    rerun: Rerun,
    label: String,
    input: String,
}

impl Trial {
    fn fail(&self, what: impl Display, curl: Option<String>) -> Failure {
        let Trial { rerun, label, input } = self;
        Failure {
            message: format!("seed {}, {label}: {input} — {what}; rerun: {}", rerun.seed, rerun.command()),
            curl,
        }
    }

    /// Fails with `what` and the request `curl` reproduces unless `condition`.
    fn check(&self, condition: bool, what: impl FnOnce() -> String, curl: &str) -> Outcome {
        if condition { Ok(()) } else { Err(self.fail(what(), Some(curl.to_string()))) }
    }
}

// --- generation --------------------------------------------------------------

/// Draws a case's inputs, deterministically from the run's seed and the
/// case's id.
struct Generator {
    runner: TestRunner,
    rerun: Rerun,
}

impl Generator {
    fn new(ctx: &Context, case: &'static str) -> Generator {
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(ctx.seed, case));
        Generator {
            runner: TestRunner::new_with_rng(Config::default(), rng),
            rerun: Rerun { seed: ctx.seed, case, cases: ctx.property_cases },
        }
    }

    /// The next value of `strategy` (no shrinking: its first value).
    fn draw<S: Strategy>(&mut self, strategy: &S) -> Result<S::Value, Failure> {
        strategy
            .new_tree(&mut self.runner)
            .map(|tree| tree.current())
            .map_err(|e| self.rerun.fail(format!("generating an input: {e}"), None))
    }

    /// The indexes of the inputs to draw.
    fn indexes(&self) -> std::ops::Range<u32> {
        0..self.rerun.cases
    }
}

/// The ChaCha seed of a case: the run's seed and an FNV-1a hash of the id.
fn seed_bytes(seed: u64, case: &str) -> [u8; 32] {
    let id =
        case.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_mut(8).zip([seed, id, seed.rotate_left(32) ^ id, 0x746f_6c6c_6761_7465])
    {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

/// A JSON object of the fields that are present.
fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(fields.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect())
}

/// Action types, weighted towards the ones the default bundle judges.
fn action_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        3 => Just("communicate"),
        2 => Just("publish"),
        3 => Just("transact"),
        2 => Just("modify"),
        1 => Just("access"),
        1 => Just("control"),
        1 => Just("recommend"),
    ]
}

/// Verbs: destructive ones in several spellings, plain ones, and any valid verb.
fn verb() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "send", "post", "read", "transfer", "pay", "update", "delete", "Drop", "bulk_delete", "purge_all",
            "wipe", "TRUNCATE-table",
        ])
        .prop_map(str::to_string),
        1 => "[a-zA-Z][a-zA-Z0-9_.:-]{0,20}",
    ]
}

/// US dollars with cents, around the default bundle's limits.
fn usd_cents() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(999.99),
        Just(1_000.0),
        Just(1_000.01),
        Just(10_000.0),
        Just(10_000.01),
        Just(25_000.0),
        (0u32..=5_000_000).prop_map(|cents| f64::from(cents) / 100.0),
        (0u32..=2_000).prop_map(f64::from),
    ]
}

/// Whole US dollars (sums are exact, so a budget model is too).
fn usd_whole() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1_000.0), Just(1_001.0), Just(10_001.0), (0u32..=3_000).prop_map(f64::from),]
}

/// Audience sizes and record counts around the bundle's limits.
fn audience() -> impl Strategy<Value = u64> {
    prop_oneof![Just(1_000u64), Just(1_001), Just(10_000), Just(10_001), 0u64..100, 0u64..50_000]
}

/// Numbers the default bundle redacts, and some it must not.
const SENSITIVE: [&str; 10] = [
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "4012888888881881",
    "378282246310005",
    "4111 1111 1111 1112",
    "123-45-6789",
    "078-05-1120",
    "000-12-3456",
    "666-12-3456",
    "900-12-3456",
];

/// Free text, with and without card numbers and SSNs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[ -~]{0,40}",
        3 => ("[a-zA-Z ,.]{0,16}", prop::sample::select(SENSITIVE.to_vec()), "[a-zA-Z ,.]{0,16}")
            .prop_map(|(before, number, after)| format!("{before} {number} {after}")),
        1 => Just("écrit à ünïcødé 😀".to_string()),
    ]
}

/// `estimated_impact`: irreversible actions are frequent, as they escalate.
fn impact(usd: impl Strategy<Value = f64>) -> impl Strategy<Value = Value> {
    (
        prop_oneof![2 => Just(Some(false)), 1 => Just(Some(true)), 1 => Just(None)],
        prop::option::weighted(0.7, usd),
        prop::option::weighted(0.5, audience()),
        prop::option::weighted(
            0.3,
            prop::collection::vec(prop::sample::select(vec!["gdpr", "HIPAA", "pci", "sox"]), 1..3),
        ),
    )
        .prop_map(|(reversible, usd, audience, domains)| {
            object([
                ("reversible", reversible.map(Value::Bool)),
                ("financial_exposure_usd", usd.map(|u| json!(u))),
                ("audience_size", audience.map(|a| json!(a))),
                ("regulatory_domains", domains.map(|d| json!(d))),
            ])
        })
}

/// An action (`intent.action`), with exposures drawn from `usd`.
fn action(usd: impl Strategy<Value = f64>) -> impl Strategy<Value = Value> {
    let target = (
        "[a-z]{1,12}",
        "[a-zA-Z0-9@./:-]{1,30}",
        prop::option::of(prop::sample::select(vec!["public", "internal", "confidential", "restricted"])),
    )
        .prop_map(|(kind, identifier, sensitivity)| {
            object([
                ("type", Some(json!(kind))),
                ("identifier", Some(json!(identifier))),
                ("sensitivity", sensitivity.map(|s| json!(s))),
            ])
        });
    let payload = (
        prop::option::weighted(0.3, "[ -~]{1,40}"),
        prop::option::weighted(0.7, text()),
        prop::option::weighted(0.75, impact(usd)),
    )
        .prop_map(|(summary, content, impact)| {
            object([
                ("summary", summary.map(|s| json!(s))),
                ("content", content.map(|c| json!(c))),
                ("estimated_impact", impact),
            ])
        });
    (action_type(), verb(), prop::option::weighted(0.4, target), prop::option::weighted(0.85, payload))
        .prop_map(|(kind, verb, target, payload)| {
            object([
                ("type", Some(json!(kind))),
                ("verb", Some(json!(verb))),
                ("target", target),
                ("payload", payload),
            ])
        })
}

/// A generated intent before it is given an agent: `{action, context?}`.
fn intent() -> impl Strategy<Value = Value> {
    intent_with(usd_cents())
}

fn intent_with(usd: impl Strategy<Value = f64>) -> impl Strategy<Value = Value> {
    (
        action(usd),
        prop::option::weighted(0.3, prop::collection::btree_map("[a-z]{1,8}", "[a-z0-9]{0,8}", 0..3)),
    )
        .prop_map(|(action, context)| {
            object([("action", Some(action)), ("context", context.map(|c| json!(c)))])
        })
}

/// The `POST /v1/intents` body of a generated intent, for `agent`.
fn intent_body(agent: &str, drawn: &Value) -> Value {
    object([
        ("intent", Some(json!({"agent": {"id": agent}, "action": drawn["action"]}))),
        ("context", drawn.get("context").cloned()),
    ])
}

/// The exposure an intent body declares, in US dollars (0 when absent).
fn exposure(body: &Value) -> f64 {
    body.pointer("/intent/action/payload/estimated_impact/financial_exposure_usd")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

/// The run's agent key of `environment`.
fn key_of(ctx: &Context, environment: types::Environment) -> &str {
    match environment {
        types::Environment::Live => &ctx.live_key,
        types::Environment::Shadow => &ctx.shadow_key,
        types::Environment::Test => &ctx.test_key,
    }
}

fn environment() -> impl Strategy<Value = types::Environment> {
    use types::Environment::{Live, Shadow, Test};
    prop_oneof![3 => Just(Live), 2 => Just(Shadow), 1 => Just(Test)]
}

// --- talking to the deployment -----------------------------------------------

/// Every item of a list call (`gw.api().<list>()…`), page after page, up
/// to [`MAX_PAGES`] pages: a future of `Result<Vec<_>, lictor_client::Error>`.
/// (A macro: every list's builder is a type of its own.)
macro_rules! scan {
    ($gw:expr, $call:expr) => {
        $gw.paginate(|cursor| {
            let call = $call;
            async move {
                match cursor {
                    Some(cursor) => call.cursor(cursor),
                    None => call,
                }
                .send()
                .await
            }
        })
        .take(MAX_PAGES * 500)
        .try_collect::<Vec<_>>()
    };
}

/// How restrictive a verdict is: approve < approve_modified < escalate < block.
fn rank(verdict: types::Verdict) -> u8 {
    match verdict {
        types::Verdict::Approve => 0,
        types::Verdict::ApproveModified => 1,
        types::Verdict::Escalate => 2,
        types::Verdict::Block => 3,
    }
}

/// Whether a verdict lets the agent act.
fn allows(verdict: types::Verdict) -> bool {
    rank(verdict) <= 1
}

fn codes(decision: &types::Decision) -> Vec<String> {
    decision.reasons.iter().map(|r| r.code.clone()).collect()
}

/// The codes of the reasons `stage` gave.
fn codes_of(decision: &types::Decision, stage: types::StageName) -> Vec<String> {
    decision.reasons.iter().filter(|r| r.stage == stage).map(|r| r.code.clone()).collect()
}

/// A short account of a decision for failure messages.
fn summary(decision: &types::Decision) -> String {
    let reasons: Vec<String> = decision.reasons.iter().map(|r| format!("{}:{}", r.stage, r.code)).collect();
    format!("{} [{}] (intent {})", decision.verdict, reasons.join(", "), decision.intent_id.as_str())
}

/// Declares the intent request `body` with `key` (an API key or a token):
/// the Decision and a curl reproducing the request.
async fn declare(
    ctx: &Context,
    key: &str,
    body: &Value,
    trial: &Trial,
) -> Result<(types::Decision, String), Failure> {
    let (gw, url) = ctx.client(key);
    let repro = curl("POST", &url, "/v1/intents", key, Some(body));
    let request: types::IntentRequest = serde_json::from_value(body.clone()).map_err(|e| {
        trial
            .fail(format!("the suite generated an invalid intent request (a bug in its strategy): {e}"), None)
    })?;
    let options = DeclareOptions { context: request.context.clone(), ..DeclareOptions::default() };
    match gw.declare_intent_with(request.intent, options).await {
        Ok(decision) => Ok((decision, repro)),
        Err(error) => {
            Err(trial
                .fail(format!("POST /v1/intents: want HTTP 200 with a Decision, got {error}"), Some(repro)))
        }
    }
}

/// Registers an agent with a unique id through `admin_key` (the run's or
/// the other tenant's admin), with an optional budget.
async fn fresh_agent(
    ctx: &Context,
    admin_key: &str,
    rerun: Rerun,
    label: &str,
    budget: Option<Value>,
) -> Result<String, Failure> {
    let id = format!("prop-{label}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let body = object([
        ("id", Some(json!(id))),
        ("name", Some(json!(format!("Property agent ({label})")))),
        ("owner", Some(json!("conformance"))),
        ("budget", budget),
    ]);
    let (admin, url) = ctx.client(admin_key);
    let repro = curl("POST", &url, "/v1/agents", admin_key, Some(&body));
    let typed: types::AgentCreate =
        serde_json::from_value(body).map_err(|e| rerun.fail(format!("agent body: {e}"), None))?;
    admin
        .retrying(|| admin.api().agent_create().body(typed.clone()).send())
        .await
        .map_err(|e| rerun.fail(format!("registering agent {id}: {e}"), Some(repro)))?;
    Ok(id)
}

/// Mints a token for `agent` (ten minutes, no other restriction).
async fn mint(ctx: &Context, rerun: Rerun, agent: &str) -> Result<types::MintedToken, Failure> {
    let (admin, url) = ctx.client(&ctx.admin_key);
    let body = json!({"subject": agent, "ttl_seconds": 600});
    let repro = curl("POST", &url, "/v1/admin/mint", &ctx.admin_key, Some(&body));
    let typed: types::TokenMint =
        serde_json::from_value(body).map_err(|e| rerun.fail(format!("mint body: {e}"), None))?;
    admin
        .retrying(|| admin.api().token_mint().body(typed.clone()).send())
        .await
        .map_err(|e| rerun.fail(format!("minting a token for {agent}: {e}"), Some(repro)))
}

/// Every audit entry of `agent`, as `key` (an admin) lists them.
async fn entries_of(
    ctx: &Context,
    key: &str,
    rerun: Rerun,
    agent: &str,
) -> Result<Vec<types::AuditEntry>, Failure> {
    let (gw, url) = ctx.client(key);
    let repro = curl("GET", &url, &format!("/v1/admin/audit?agent_id={agent}&limit=500"), key, None::<&()>);
    scan!(gw, gw.api().audit_list().agent_id(agent).limit(500))
        .await
        .map_err(|e| rerun.fail(format!("listing the audit entries of {agent}: {e}"), Some(repro)))
}

/// Checks what every Decision must be, whatever its verdict: for the agent
/// and environment asked, reasons for a block or an escalation,
/// modifications exactly for `approve_modified` (an escalation may keep
/// them for the human), enforced outside shadow.
fn well_formed(
    trial: &Trial,
    decision: &types::Decision,
    environment: types::Environment,
    agent: &str,
    repro: &str,
) -> Outcome {
    let verdict = decision.verdict;
    let patch = decision.modifications.as_ref().map(|m| m.patch.len());
    let shadow = environment == types::Environment::Shadow;
    trial.check(
        decision.environment == environment
            && decision.agent_id.as_str() == agent
            && (allows(verdict) || !decision.reasons.is_empty())
            && match verdict {
                types::Verdict::ApproveModified => patch.is_some_and(|n| n > 0),
                types::Verdict::Approve | types::Verdict::Block => patch.is_none(),
                types::Verdict::Escalate => true,
            }
            && (shadow || (decision.enforced && decision.would_be_verdict.is_none())),
        || {
            format!(
                "want a decision for {agent} in {environment}{}, with reasons unless approved, and modifications exactly for approve_modified; got {} for {} in {}, modifications {}, enforced={}, would_be={:?}",
                if shadow { "" } else { ", enforced" },
                summary(decision),
                decision.agent_id.as_str(),
                decision.environment,
                json!(decision.modifications),
                decision.enforced,
                decision.would_be_verdict
            )
        },
        repro,
    )
}

// --- intents.property_one_verdict --------------------------------------------

fn one_verdict(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut generator = Generator::new(ctx, ONE_VERDICT);
        let rerun = generator.rerun;
        // No budget: a second declaration is decided as the first one was.
        let agent = fresh_agent(ctx, &ctx.admin_key, rerun, "verdict", None).await?;
        for index in generator.indexes() {
            let body = intent_body(&agent, &generator.draw(&intent())?);
            let trial = rerun.trial(index, &body);
            let (first, repro) = declare(ctx, &ctx.live_key, &body, &trial).await?;
            well_formed(&trial, &first, types::Environment::Live, &agent, &repro)?;
            let (again, repro) = declare(ctx, &ctx.live_key, &body, &trial).await?;
            trial.check(
                again.intent_id != first.intent_id
                    && again.verdict == first.verdict
                    && codes(&again) == codes(&first)
                    && again.risk.score == first.risk.score,
                || {
                    format!(
                        "declared twice: want two intents with the same verdict, reasons and risk, got {} (risk {}) then {} (risk {})",
                        summary(&first),
                        first.risk.score,
                        summary(&again),
                        again.risk.score
                    )
                },
                &repro,
            )?;
            let id = first.intent_id.to_string();
            let (gw, url) = ctx.client(&ctx.live_key);
            let path = format!("/v1/intents/{id}/decision");
            let repro = curl("GET", &url, &path, &ctx.live_key, None::<&()>);
            let state = gw
                .retrying(|| gw.api().intent_decision_get().intent_id(id.as_str()).send())
                .await
                .map_err(|e| trial.fail(format!("GET {path}: {e}"), Some(repro.clone())))?;
            let stored = state.decision.as_ref();
            trial.check(
                state.status == types::IntentStatus::Decided
                    && stored.is_some_and(|d| d.verdict == first.verdict && codes(d) == codes(&first)),
                || {
                    format!(
                        "read back: want decided, {}, got {:?} {}",
                        summary(&first),
                        state.status,
                        stored.map(summary).unwrap_or_else(|| "no decision".into())
                    )
                },
                &repro,
            )?;
        }
        Ok(())
    })
}

// --- intents.property_shadow_and_test ----------------------------------------

fn shadow_and_test(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut generator = Generator::new(ctx, SHADOW_AND_TEST);
        let rerun = generator.rerun;
        let agent = fresh_agent(ctx, &ctx.admin_key, rerun, "shadow", None).await?;
        // Shadow decisions to find in the log, with their live verdicts.
        let mut shadowed = Vec::new();
        for index in generator.indexes() {
            let body = intent_body(&agent, &generator.draw(&intent())?);
            let trial = rerun.trial(index, &body);
            let (live, repro) = declare(ctx, &ctx.live_key, &body, &trial).await?;
            well_formed(&trial, &live, types::Environment::Live, &agent, &repro)?;
            let (shadow, repro) = declare(ctx, &ctx.shadow_key, &body, &trial).await?;
            well_formed(&trial, &shadow, types::Environment::Shadow, &agent, &repro)?;
            trial.check(
                shadow.verdict == types::Verdict::Approve
                    && !shadow.enforced
                    && shadow.would_be_verdict == Some(live.verdict)
                    && shadow.audit.is_some()
                    && shadow.modifications.is_none()
                    && shadow.approval.is_none(),
                || {
                    format!(
                        "shadow: want approve, enforced=false, would_be_verdict={}, audited, no modifications or approval; got {} enforced={} would_be={:?} audit={} modifications={} approval={}",
                        live.verdict,
                        shadow.verdict,
                        shadow.enforced,
                        shadow.would_be_verdict.map(|v| v.to_string()),
                        shadow.audit.is_some(),
                        shadow.modifications.is_some(),
                        shadow.approval.is_some()
                    )
                },
                &repro,
            )?;
            let (test, repro) = declare(ctx, &ctx.test_key, &body, &trial).await?;
            well_formed(&trial, &test, types::Environment::Test, &agent, &repro)?;
            trial.check(
                test.verdict == live.verdict && test.audit.is_none(),
                || {
                    format!(
                        "test: want the live verdict {} and no audit entry, got {} audit={:?}",
                        summary(&live),
                        summary(&test),
                        test.audit
                    )
                },
                &repro,
            )?;
            let id = test.intent_id.to_string();
            let (admin, url) = ctx.client(&ctx.admin_key);
            let repro =
                curl("GET", &url, &format!("/v1/admin/audit?intent_id={id}"), &ctx.admin_key, None::<&()>);
            let page =
                admin.retrying(|| admin.api().audit_list().intent_id(id.as_str()).send()).await.map_err(
                    |e| trial.fail(format!("listing the test intent's entries: {e}"), Some(repro.clone())),
                )?;
            trial.check(
                page.items.is_empty(),
                || format!("test intent {id} has {} audit entries, want none", page.items.len()),
                &repro,
            )?;
            shadowed.push((trial, shadow, live.verdict));
        }
        // Each shadow decision is one entry: not enforced, the would-be verdict.
        let entries = entries_of(ctx, &ctx.admin_key, rerun, &agent).await?;
        for (trial, shadow, verdict) in &shadowed {
            let id = shadow.intent_id.as_str();
            let found: Vec<_> =
                entries.iter().filter(|e| e.intent_id.as_ref().is_some_and(|i| i.as_str() == id)).collect();
            let repro =
                curl("GET", ctx.url(), &format!("/v1/intents/{id}/audit"), &ctx.admin_key, None::<&()>);
            trial.check(
                found.len() == 1
                    && found.iter().all(|e| {
                        Some(&e.hash) == shadow.audit.as_ref().map(|a| &a.hash)
                            && e.enforced == Some(false)
                            && e.verdict == Some(*verdict)
                            && e.environment == Some(types::Environment::Shadow)
                    }),
                || {
                    format!(
                        "shadow intent {id}: want one entry with its hash, enforced=false, verdict {}, environment shadow; got {}",
                        *verdict,
                        serde_json::to_string(&found).unwrap_or_default()
                    )
                },
                &repro,
            )?;
        }
        Ok(())
    })
}

// --- intents.property_budgets --------------------------------------------------

/// An agent's budget, and what it has consumed by the case's own account:
/// only the approved intents count.
struct Budget {
    max_decisions: u64,
    max_exposure_usd: f64,
    decisions: u64,
    exposure_usd: f64,
}

impl Budget {
    /// Checks a decision of the budgeted agent against the verdict the same
    /// intent got without a budget (`reference`, described by `described`),
    /// and counts it when it consumed the budget.
    fn check(
        &mut self,
        trial: &Trial,
        (reference, described): (types::Verdict, &str),
        decision: &types::Decision,
        exposure_usd: f64,
        repro: &str,
    ) -> Outcome {
        let state = format!(
            "(limits {} decisions and {} USD; approved so far {} decisions and {} USD; this one {exposure_usd} USD)",
            self.max_decisions, self.max_exposure_usd, self.decisions, self.exposure_usd
        );
        if !allows(reference) {
            // Blocked and escalated intents never reach the budget.
            return trial.check(
                decision.verdict == reference,
                || {
                    format!(
                        "without a budget {described}, with one {}: want the same {state}",
                        summary(decision)
                    )
                },
                repro,
            );
        }
        let over = if self.decisions + 1 > self.max_decisions {
            Some("decisions")
        } else if self.exposure_usd + exposure_usd > self.max_exposure_usd {
            Some("exposure")
        } else {
            None
        };
        if let Some(limit) = over {
            return trial.check(
                decision.verdict == types::Verdict::Escalate
                    && !codes_of(decision, types::StageName::Budget).is_empty(),
                || {
                    format!(
                        "past the {limit} limit: want escalate by the budget stage, got {} {state}",
                        summary(decision)
                    )
                },
                repro,
            );
        }
        trial.check(
            decision.verdict == reference,
            || {
                format!(
                    "within the budget: want {described} as without one, got {} {state}",
                    summary(decision)
                )
            },
            repro,
        )?;
        self.decisions += 1;
        self.exposure_usd += exposure_usd;
        Ok(())
    }
}

fn budgets(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut generator = Generator::new(ctx, BUDGETS);
        let rerun = generator.rerun;
        // Limits the inputs reach: about a quarter of them could be approved.
        // The exposure limit ends in half a dollar and exposures are whole
        // dollars, so no sum lands on it and rounding cannot matter.
        let mut budget = Budget {
            max_decisions: u64::from(ctx.property_cases / 4).max(1),
            max_exposure_usd: 1_000.5,
            decisions: 0,
            exposure_usd: 0.0,
        };
        let limits = json!({"max_decisions_24h": budget.max_decisions, "max_exposure_usd_24h": budget.max_exposure_usd});
        let limited = fresh_agent(ctx, &ctx.admin_key, rerun, "budget", Some(limits.clone())).await?;
        // The same intents for an agent without a budget give the verdict
        // before the budget stage.
        let unlimited = fresh_agent(ctx, &ctx.admin_key, rerun, "nobudget", None).await?;
        for index in generator.indexes() {
            let drawn = generator.draw(&intent_with(usd_whole()))?;
            let body = intent_body(&limited, &drawn);
            let trial = rerun.trial(index, &body);
            let (reference, _) =
                declare(ctx, &ctx.live_key, &intent_body(&unlimited, &drawn), &trial).await?;
            let (decision, repro) = declare(ctx, &ctx.live_key, &body, &trial).await?;
            let described = summary(&reference);
            budget.check(&trial, (reference.verdict, &described), &decision, exposure(&body), &repro)?;
        }
        // The agent shows its limits.
        let (admin, url) = ctx.client(&ctx.admin_key);
        let path = format!("/v1/agents/{limited}");
        let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
        let shown = admin
            .retrying(|| admin.api().agent_get().agent_id(limited.as_str()).send())
            .await
            .map_err(|e| rerun.fail(format!("GET {path}: {e}"), Some(repro.clone())))?;
        if shown.budget.max_decisions_24h != Some(budget.max_decisions)
            || shown.budget.max_exposure_usd_24h.as_ref().map(|u| u.0) != Some(budget.max_exposure_usd)
        {
            let shown = json!(shown.budget);
            return Err(
                rerun.fail(format!("agent {limited} shows the budget {shown}, want {limits}"), Some(repro))
            );
        }
        // A plain read, approved by policy, has room or not as the account
        // says; with the limits lifted, it is approved.
        let read = intent_body(&limited, &json!({"action": {"type": "access", "verb": "read"}}));
        let probe = rerun.labelled("the read after the inputs".into(), &read);
        let (decision, repro) = declare(ctx, &ctx.live_key, &read, &probe).await?;
        budget.check(&probe, (types::Verdict::Approve, "approve"), &decision, 0.0, &repro)?;
        let lift: types::AgentUpdate = serde_json::from_value(json!({"budget": {}}))
            .map_err(|e| rerun.fail(format!("update body: {e}"), None))?;
        let repro = curl("PATCH", &url, &path, &ctx.admin_key, Some(&lift));
        admin
            .retrying(|| admin.api().agent_update().agent_id(limited.as_str()).body(lift.clone()).send())
            .await
            .map_err(|e| rerun.fail(format!("lifting the budget: {e}"), Some(repro)))?;
        let (decision, repro) = declare(ctx, &ctx.live_key, &read, &probe).await?;
        probe.check(
            decision.verdict == types::Verdict::Approve,
            || format!("with the budget lifted, want approve, got {}", summary(&decision)),
            &repro,
        )
    })
}

// --- tokens.property_attenuation_never_widens --------------------------------

/// When an attenuated token stops being valid.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Expiry {
    /// This many seconds from now.
    InSeconds(u64),
    /// An hour ago.
    Passed,
}

/// A generated attenuation: each field set adds its caveat.
#[derive(Clone, Debug, Serialize)]
struct Narrowing {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    action_types: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_calls: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_usd: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_per_min: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<Expiry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    servers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<String>,
}

/// A caveat that must refuse an intent, and the documented reason code it
/// gives (`None`: any reason of the capability stage).
struct Refusal {
    caveat: &'static str,
    code: Option<&'static str>,
}

impl Narrowing {
    /// The SDK's attenuation (a fresh jti each time).
    fn attenuation(&self, now: i64) -> Result<Attenuation, String> {
        let action_types = serde_json::from_value(json!(self.action_types)).map_err(|e| e.to_string())?;
        Ok(Attenuation {
            action_types,
            max_calls: self.max_calls,
            max_usd: self.max_usd.map(|usd| usd as f64),
            rate_per_min: self.rate_per_min,
            expires_in: match self.expires {
                Some(Expiry::InSeconds(seconds)) => Some(Duration::from_secs(seconds)),
                _ => None,
            },
            expires_at: match self.expires {
                Some(Expiry::Passed) => Some(now - 3_600),
                _ => None,
            },
            tools: self.tools.clone(),
            servers: self.servers.clone(),
            audience: self.audience.clone(),
            ..Attenuation::default()
        })
    }

    /// The caveats that must refuse `body` (an intent, not a tool call) on
    /// its first use (`docs/tokens.md`).
    fn refusals(&self, body: &Value) -> Vec<Refusal> {
        let mut refusals = Vec::new();
        if matches!(self.expires, Some(Expiry::Passed)) {
            refusals.push(Refusal { caveat: "expires", code: Some("token_expired") });
        }
        if !self.tools.is_empty() {
            refusals.push(Refusal { caveat: "tools (an intent is not a tool call)", code: None });
        }
        if !self.servers.is_empty() {
            refusals.push(Refusal { caveat: "servers (an intent is not a tool call)", code: None });
        }
        let kind = body.pointer("/intent/action/type").and_then(Value::as_str).unwrap_or_default();
        if !self.action_types.is_empty() && !self.action_types.contains(&kind) {
            refusals.push(Refusal { caveat: "action_types", code: Some("action_type_not_allowed") });
        }
        if self.audience.is_some() {
            refusals.push(Refusal { caveat: "audience (not this gateway's)", code: None });
        }
        // Exposures have whole cents, so the comparison in cents is exact.
        let cents = (exposure(body) * 100.0).round() as u64;
        if self.max_usd.is_some_and(|usd| cents > usd * 100) {
            refusals.push(Refusal { caveat: "max_usd", code: None });
        }
        refusals
    }
}

fn narrowing() -> impl Strategy<Value = Narrowing> {
    (
        prop::option::weighted(0.35, prop::sample::subsequence(ACTION_TYPES.to_vec(), 1..=7)),
        prop::option::weighted(0.3, prop_oneof![Just(1u64), Just(2), Just(1_000)]),
        prop::option::weighted(0.3, prop_oneof![Just(0u64), 1u64..=2_000, Just(20_000)]),
        prop::option::weighted(0.2, 1u64..=5),
        prop::option::weighted(
            0.25,
            prop_oneof![(60u64..3_600).prop_map(Expiry::InSeconds), Just(Expiry::Passed)],
        ),
        prop::option::weighted(0.1, prop_oneof![Just(format!("{UPSTREAM}.*")), Just("*".to_string())]),
        prop::option::weighted(0.1, Just(UPSTREAM.to_string())),
        prop::option::weighted(0.08, Just("not-this-gateway.invalid".to_string())),
    )
        .prop_map(
            |(action_types, max_calls, max_usd, rate_per_min, expires, tools, servers, audience)| Narrowing {
                action_types: action_types.unwrap_or_default(),
                max_calls,
                max_usd,
                rate_per_min,
                expires,
                tools: tools.into_iter().collect(),
                servers: servers.into_iter().collect(),
                audience,
            },
        )
}

const ACTION_TYPES: [&str; 7] =
    ["communicate", "transact", "access", "control", "publish", "recommend", "modify"];

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn attenuation_never_widens(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut generator = Generator::new(ctx, ATTENUATION);
        let rerun = generator.rerun;
        let agent = fresh_agent(ctx, &ctx.admin_key, rerun, "tokens", None).await?;
        let parent = mint(ctx, rerun, &agent).await?;
        let mut children = Vec::new();
        for index in generator.indexes() {
            let (narrowing, drawn) = generator.draw(&(narrowing(), intent()))?;
            let body = intent_body(&agent, &drawn);
            let trial = rerun.trial(index, &json!({"attenuation": narrowing, "request": body}));
            let child = narrowing
                .attenuation(unix_now())
                .and_then(|a| attenuate(&parent.token, &a).map_err(|e| e.to_string()))
                .map_err(|e| trial.fail(format!("attenuating the parent token offline: {e}"), None))?;
            let (theirs, _) = declare(ctx, &parent.token, &body, &trial).await?;
            let (ours, repro) = declare(ctx, &child, &body, &trial).await?;
            check_child(&trial, &narrowing, &body, &theirs, &ours, &repro)?;
            if narrowing.max_calls == Some(1) && allows(ours.verdict) {
                // Its one call is spent: the next is refused.
                let (again, repro) = declare(ctx, &child, &body, &trial).await?;
                // (With a rate caveat too, either may refuse it first.)
                let refused_by = codes_of(&again, types::StageName::Capability);
                trial.check(
                    again.verdict == types::Verdict::Block
                        && !refused_by.is_empty()
                        && (narrowing.rate_per_min.is_some()
                            || refused_by.iter().any(|c| c == "token_max_calls_exceeded")),
                    || {
                        format!(
                            "a child with max_calls 1, used once: want block (token_max_calls_exceeded), got {}",
                            summary(&again)
                        )
                    },
                    &repro,
                )?;
            }
            children.push(child);
        }
        revoke_parent(ctx, rerun, &agent, &parent, &children).await
    })
}

/// The child's decision against its parent's on the same intent.
fn check_child(
    trial: &Trial,
    narrowing: &Narrowing,
    body: &Value,
    parent: &types::Decision,
    child: &types::Decision,
    repro: &str,
) -> Outcome {
    trial.check(
        rank(child.verdict) >= rank(parent.verdict),
        || format!("the child got {}, more permissive than its parent's {}", summary(child), summary(parent)),
        repro,
    )?;
    let refused_by = codes_of(child, types::StageName::Capability);
    trial.check(
        refused_by.is_empty() || codes_of(parent, types::StageName::Capability).is_empty(),
        || {
            format!(
                "the parent was refused by its caveats too ({}), though it has none but its lifetime",
                summary(parent)
            )
        },
        repro,
    )?;
    let refusals = narrowing.refusals(body);
    if refusals.is_empty() {
        // Caveats that hold restrict nothing.
        return trial.check(
            child.verdict == parent.verdict && refused_by.is_empty(),
            || format!("no caveat applies: want the parent's {}, got {}", summary(parent), summary(child)),
            repro,
        );
    }
    let caveats: Vec<&str> = refusals.iter().map(|r| r.caveat).collect();
    let code = match refusals.as_slice() {
        [Refusal { code: Some(code), .. }] => Some(*code),
        _ => None,
    };
    trial.check(
        child.verdict == types::Verdict::Block
            && !refused_by.is_empty()
            && code.is_none_or(|code| refused_by.iter().any(|c| c == code)),
        || {
            format!(
                "the child's caveats {caveats:?} refuse it: want block by the capability stage{}, got {}",
                code.map(|c| format!(" ({c})")).unwrap_or_default(),
                summary(child)
            )
        },
        repro,
    )
}

/// Revokes the parent: it and its children are refused, and it is listed.
async fn revoke_parent(
    ctx: &Context,
    rerun: Rerun,
    agent: &str,
    parent: &types::MintedToken,
    children: &[String],
) -> Outcome {
    let (admin, url) = ctx.client(&ctx.admin_key);
    let jti = parent.jti.to_string();
    let body = json!({"jti": jti, "reason": "conformance: property attenuation"});
    let repro = curl("POST", &url, "/v1/admin/revoke", &ctx.admin_key, Some(&body));
    let revoke: types::TokenRevoke =
        serde_json::from_value(body).map_err(|e| rerun.fail(format!("revoke body: {e}"), None))?;
    admin
        .retrying(|| admin.api().token_revoke().body(revoke.clone()).send())
        .await
        .map_err(|e| rerun.fail(format!("revoking the parent {jti}: {e}"), Some(repro)))?;
    let read = intent_body(agent, &json!({"action": {"type": "access", "verb": "read"}}));
    let tokens = std::iter::once(&parent.token).chain(children.iter().rev().take(3));
    for (i, token) in tokens.enumerate() {
        let who = if i == 0 { "the revoked parent".to_string() } else { format!("child {i} from the end") };
        let trial = rerun.labelled(format!("a read with {who}"), &read);
        let (decision, repro) = declare(ctx, token, &read, &trial).await?;
        trial.check(
            decision.verdict == types::Verdict::Block
                && codes(&decision).iter().any(|c| c == "token_revoked"),
            || format!("after revoking {jti}: want block (token_revoked), got {}", summary(&decision)),
            &repro,
        )?;
    }
    let repro = curl("GET", &url, "/v1/admin/revocations?limit=500", &ctx.admin_key, None::<&()>);
    let listed = scan!(admin, admin.api().revocation_list().limit(500))
        .await
        .map_err(|e| rerun.fail(format!("listing revocations: {e}"), Some(repro.clone())))?;
    if listed.iter().any(|r| r.jti.as_str() == jti) {
        Ok(())
    } else {
        Err(rerun.fail(format!("the revocation list lacks {jti}"), Some(repro)))
    }
}

// --- mcp.property_tool_calls ----------------------------------------------------

/// A generated call of a tool of the suite's upstream.
#[derive(Clone, Debug)]
struct ToolCall {
    /// The upstream's name for it.
    tool: &'static str,
    /// Named bare, with `server`, rather than `<upstream>.<tool>`.
    bare: bool,
    /// Its arguments, without the marker.
    arguments: Value,
}

impl ToolCall {
    /// The string argument the marker goes in front of.
    fn marked_field(&self) -> &'static str {
        match self.tool {
            "echo" => "text",
            "send_email" => "subject",
            "delete_records" => "table",
            _ => "to",
        }
    }

    /// The arguments with `marker` in front of one string argument.
    fn arguments(&self, marker: &str) -> Value {
        let mut arguments = self.arguments.clone();
        let field = self.marked_field();
        let value = arguments[field].as_str().unwrap_or_default().to_string();
        arguments[field] = json!(format!("{marker} {value}"));
        arguments
    }
}

fn tool_call() -> impl Strategy<Value = ToolCall> {
    let echo = text().prop_map(|text| ("echo", json!({"text": text})));
    let email = ("[a-z]{1,8}", "[a-zA-Z ,.]{0,24}", text()).prop_map(|(to, subject, body)| {
        ("send_email", json!({"to": format!("{to}@example.com"), "subject": subject, "body": body}))
    });
    let delete = ("[a-z_]{1,12}", prop_oneof![1u64..=1_000, 1_001u64..100_000])
        .prop_map(|(table, count)| ("delete_records", json!({"table": table, "count": count})));
    // Amounts the upstream's override reads, some missing or not numbers.
    let amount = prop_oneof![
        6 => usd_cents().prop_map(|usd| Some(json!(usd))),
        1 => Just(None),
        1 => Just(Some(json!("a lot"))),
    ];
    let transfer = (amount, "[A-Z]{2}[0-9]{8}").prop_map(|(amount, to)| {
        ("transfer_funds", object([("amount_usd", amount), ("to", Some(json!(to)))]))
    });
    (prop_oneof![echo, email, delete, transfer], any::<bool>())
        .prop_map(|((tool, arguments), bare)| ToolCall { tool, bare, arguments })
}

fn tool_calls(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut generator = Generator::new(ctx, TOOL_CALLS);
        let rerun = generator.rerun;
        let agent = fresh_agent(ctx, &ctx.admin_key, rerun, "tools", None).await?;
        // `/v1/tool-call` with the run's agent key naming the agent, and
        // `/v1/mcp` with a token for it (one session for the whole case).
        let token = mint(ctx, rerun, &agent).await?.token;
        let mcp_url = ctx.url().to_string();
        let mcp = Gateway::new(&mcp_url).token(&token);
        for index in generator.indexes() {
            let call = generator.draw(&tool_call())?;
            let marker = super::mcp::marker("property");
            let arguments = call.arguments(&marker);
            let body = if call.bare {
                json!({"tool": call.tool, "server": UPSTREAM, "agent_id": agent, "arguments": arguments})
            } else {
                json!({"tool": format!("{UPSTREAM}.{}", call.tool), "agent_id": agent, "arguments": arguments})
            };
            let trial = rerun.trial(index, &body);
            let forwarded = through_tool_call(ctx, &trial, &call, &body, &marker).await?;
            // The same call over MCP, with a marker of its own.
            let other = super::mcp::marker("property");
            let arguments = call.arguments(&other);
            let tool = format!("{UPSTREAM}.{}", call.tool);
            let repro = mcp_repro(&mcp_url, &token, &tool, &arguments);
            let result = mcp.call_tool(&tool, arguments).await;
            let reached: Vec<Value> =
                ctx.upstream.calls_marked(&other).into_iter().map(|c| c.arguments).collect();
            let want = match &forwarded {
                // What `/v1/tool-call` forwarded, with this call's marker.
                Forwarded::With(arguments) => {
                    Ok(serde_json::from_str(&arguments.to_string().replace(&marker, &other))
                        .unwrap_or_default())
                }
                Forwarded::Not(verdict) => Err(*verdict),
            };
            check_mcp(&trial, want, &result, &reached, &repro)?;
        }
        // Best effort: the session is the suite's own.
        let _ = mcp.close_mcp_session().await;
        Ok(())
    })
}

/// What `/v1/tool-call` did with a call.
enum Forwarded {
    /// Approved: these arguments reached the upstream.
    With(Value),
    /// Not approved: nothing reached the upstream.
    Not(types::Verdict),
}

/// Sends a generated call through `POST /v1/tool-call` and checks its one
/// outcome: an approved call reaches the upstream once, with the approved
/// arguments, and answers its result; any other never reaches it.
async fn through_tool_call(
    ctx: &Context,
    trial: &Trial,
    call: &ToolCall,
    body: &Value,
    marker: &str,
) -> Result<Forwarded, Failure> {
    let (gw, url) = ctx.client(&ctx.live_key);
    let repro = curl("POST", &url, "/v1/tool-call", &ctx.live_key, Some(body));
    let request: types::ToolCallRequest = serde_json::from_value(body.clone()).map_err(|e| {
        trial.fail(format!("the suite generated an invalid tool call (a bug in its strategy): {e}"), None)
    })?;
    let answer = gw.retrying(|| gw.api().tool_call().body(request.clone()).send()).await.map_err(|e| {
        trial.fail(
            format!("POST /v1/tool-call: want HTTP 200 for every verdict, got {e}"),
            Some(repro.clone()),
        )
    })?;
    let decision = &answer.decision;
    let reached: Vec<Value> = ctx
        .upstream
        .calls_marked(marker)
        .into_iter()
        .map(|c| json!({"tool": c.name, "arguments": c.arguments}))
        .collect();
    let got = || {
        format!(
            "got {}, result={}, upstream_error={}, modifications={}, calls upstream: {}",
            summary(decision),
            answer.result.is_some(),
            json!(answer.upstream_error),
            json!(decision.modifications),
            json!(reached)
        )
    };
    if !allows(decision.verdict) {
        trial.check(
            !decision.reasons.is_empty()
                && answer.result.is_none()
                && answer.upstream_error.is_none()
                && reached.is_empty(),
            || format!("a denied call: want reasons, no result and no call upstream; {}", got()),
            &repro,
        )?;
        return Ok(Forwarded::Not(decision.verdict));
    }
    // What the upstream must receive: the arguments, or the approved patch of them.
    let want = match (&decision.verdict, &decision.modifications) {
        (types::Verdict::ApproveModified, Some(m)) => m.modified_payload.arguments.clone().map(Value::Object),
        (types::Verdict::Approve, None) => Some(body["arguments"].clone()),
        _ => None,
    };
    let want_call = want.as_ref().map(|arguments| json!([{"tool": call.tool, "arguments": arguments}]));
    trial.check(
        answer.result.is_some() && answer.upstream_error.is_none() && want_call == Some(json!(reached)),
        || {
            format!(
                "an approved call: want its result and one call upstream, {}; {}",
                want_call.as_ref().map_or("with the modified arguments".into(), Value::to_string),
                got()
            )
        },
        &repro,
    )?;
    Ok(Forwarded::With(want.unwrap_or_default()))
}

/// Checks the same call's outcome over MCP: forwarded once with `want` when
/// `/v1/tool-call` approved it, else the JSON-RPC denial of its verdict
/// (`-32014` for an escalation, `-32010`…`-32013` for a block) and never
/// forwarded. `reached`: the arguments of the calls the upstream received.
fn check_mcp(
    trial: &Trial,
    want: Result<Value, types::Verdict>,
    result: &Result<lictor_client::ToolResult, lictor_client::Error>,
    reached: &[Value],
    repro: &str,
) -> Outcome {
    match (want, result) {
        (Ok(want), Ok(_)) => trial.check(
            reached == [want.clone()],
            || format!("over MCP, an approved call: want one call upstream with {want}, got {}", json!(reached)),
            repro,
        ),
        (Ok(_), Err(error)) => {
            Err(trial.fail(format!("/v1/tool-call approved it, but over MCP it was refused: {error}"), Some(repro.into())))
        }
        (Err(verdict), Ok(result)) => Err(trial.fail(
            format!(
                "/v1/tool-call answered {}, but over MCP it was answered as approved ({} call(s) upstream): {}",
                verdict,
                reached.len(),
                result.raw
            ),
            Some(repro.into()),
        )),
        (Err(verdict), Err(error)) => {
            let denied = error.denial();
            let (codes, range) = match verdict {
                types::Verdict::Escalate => (-32014..=-32014, "-32014"),
                _ => (-32013..=-32010, "-32010…-32013"),
            };
            trial.check(
                denied.is_some_and(|d| {
                    d.verdict.as_deref() == Some(verdict.to_string().as_str()) && codes.contains(&d.code)
                }) && reached.is_empty(),
                || {
                    format!(
                        "over MCP: want the JSON-RPC denial ({range}) of verdict {}, never forwarded; got {error} (data {}), {} call(s) upstream",
                        verdict,
                        denied.map_or(Value::Null, |d| d.data.clone()),
                        reached.len()
                    )
                },
                repro,
            )
        }
    }
}

// --- audit.property_every_decision_is_provable ----------------------------------

/// A generated decision and its audit entry, when it has one.
struct Audited {
    trial: Trial,
    environment: types::Environment,
    decision: types::Decision,
}

/// Declares `property_cases` generated intents in generated environments
/// for a fresh agent: each decision, checked to be audited unless in test.
async fn audited_batch(
    ctx: &Context,
    generator: &mut Generator,
    label: &str,
) -> Result<(String, Vec<Audited>), Failure> {
    let rerun = generator.rerun;
    let agent = fresh_agent(ctx, &ctx.admin_key, rerun, label, None).await?;
    let mut batch = Vec::new();
    for index in generator.indexes() {
        let (drawn, environment) = generator.draw(&(intent(), environment()))?;
        let body = intent_body(&agent, &drawn);
        let trial = rerun.trial(index, &json!({"environment": environment, "request": body}));
        let (decision, repro) = declare(ctx, key_of(ctx, environment), &body, &trial).await?;
        trial.check(
            decision.audit.is_some() == (environment != types::Environment::Test),
            || {
                format!(
                    "in {environment} want {} audit entry, got {:?}",
                    if environment == types::Environment::Test { "no" } else { "an" },
                    decision.audit
                )
            },
            &repro,
        )?;
        batch.push(Audited { trial, environment, decision });
    }
    Ok((agent, batch))
}

/// 32 bytes from hex.
fn hash32(text: &str) -> Result<merkle::Hash, String> {
    let bytes = hex::decode(text).map_err(|e| format!("`{text}` is not hex: {e}"))?;
    bytes.try_into().map_err(|_| format!("`{text}` is not 32 bytes"))
}

/// Waits (up to 30 s) for a signed checkpoint covering `seq`.
async fn checkpoint_covering(
    ctx: &Context,
    rerun: Rerun,
    seq: u64,
) -> Result<types::AuditCheckpoint, Failure> {
    let (admin, url) = ctx.client(&ctx.admin_key);
    let repro = curl("GET", &url, "/v1/admin/audit/checkpoints/latest", &ctx.admin_key, None::<&()>);
    let mut latest = None;
    for _ in 0..60 {
        match admin.retrying(|| admin.api().audit_checkpoint_latest().send()).await {
            Ok(checkpoint) if checkpoint.tree_size >= seq => return Ok(checkpoint),
            Ok(checkpoint) => latest = Some(checkpoint.tree_size),
            Err(error) if error.api().is_some_and(|a| a.status == 404) => {}
            Err(error) => return Err(rerun.fail(format!("GET the latest checkpoint: {error}"), Some(repro))),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(rerun.fail(
        format!("no signed checkpoint covered entry {seq} within 30 s (latest: {latest:?})"),
        Some(repro),
    ))
}

/// `text` for a query string: unreserved characters as they are, the rest
/// percent-encoded (cursors are opaque).
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The agent's audit entries as the gateway sends them (so they can be
/// hashed again), and a curl for the first page.
async fn raw_entries_of(ctx: &Context, rerun: Rerun, agent: &str) -> Result<(Vec<Value>, String), Failure> {
    let first = format!("/v1/admin/audit?agent_id={agent}&limit=500");
    let (mut entries, mut path, mut first_repro) = (Vec::new(), first.clone(), None);
    for _ in 0..MAX_PAGES {
        let (status, page, repro) = crate::raw(ctx, "GET", &path, &ctx.admin_key, None::<&()>).await?;
        if status != 200 {
            return Err(rerun.fail(format!("GET {path}: HTTP {status}: {page}"), Some(repro)));
        }
        first_repro.get_or_insert(repro);
        entries.extend(page["items"].as_array().into_iter().flatten().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={}", percent_encoded(cursor)),
            None => break,
        }
    }
    Ok((entries, first_repro.unwrap_or_default()))
}

fn every_decision_is_provable(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut generator = Generator::new(ctx, PROVABLE);
        let rerun = generator.rerun;
        let (agent, batch) = audited_batch(ctx, &mut generator, "provable").await?;
        let audited: Vec<(&Audited, &types::AuditRef)> =
            batch.iter().filter_map(|a| a.decision.audit.as_ref().map(|r| (a, r))).collect();
        let Some(last) = audited.iter().map(|(_, r)| r.seq).max() else { return Ok(()) };
        let (admin, url) = ctx.client(&ctx.admin_key);
        let keys = admin
            .audit_keys()
            .await
            .map_err(|e| rerun.fail(format!("GET /.well-known/lictor/keys: {e}"), None))?;
        let checkpoint = checkpoint_covering(ctx, rerun, last).await?;
        let opened = keys
            .iter()
            .find_map(|key| Checkpoint::open(&checkpoint.note, key).ok())
            .filter(|c| {
                c.tree_size == checkpoint.tree_size && hex::encode(c.root_hash) == checkpoint.root_hash
            })
            .ok_or_else(|| {
                rerun.fail(
                    format!(
                        "checkpoint {} is not signed by a published key, or its note disagrees with it",
                        checkpoint.tree_size
                    ),
                    None,
                )
            })?;
        let (entries, repro) = raw_entries_of(ctx, rerun, &agent).await?;
        for (audited, reference) in audited {
            let trial = &audited.trial;
            let id = audited.decision.intent_id.as_str();
            let entry = entries.iter().find(|e| e["intent_id"] == id);
            let rehashed = entry.map(|e| {
                let mut document = e.clone();
                if let Some(fields) = document.as_object_mut() {
                    fields.remove("hash");
                }
                digest_json(&document)
            });
            trial.check(
                entry.is_some_and(|e| e["hash"] == reference.hash.as_str() && e["seq"] == reference.seq)
                    && rehashed.as_deref() == Some(reference.hash.as_str()),
                || {
                    format!(
                        "the entry of {id} ({}) must have the decision's seq {} and hash {}, and hash to it; got {} hashing to {rehashed:?}",
                        audited.environment,
                        reference.seq,
                        reference.hash,
                        entry.map(Value::to_string).unwrap_or_else(|| "no entry".into())
                    )
                },
                &repro,
            )?;
            let size = opened.tree_size;
            let path = format!("/v1/admin/audit/proof/inclusion?seq={}&tree_size={size}", reference.seq);
            let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
            let proof = admin
                .retrying(|| admin.api().audit_inclusion_proof().seq(reference.seq).tree_size(size).send())
                .await
                .map_err(|e| trial.fail(format!("GET the inclusion proof: {e}"), Some(repro.clone())))?;
            trial.check(
                proof.seq == reference.seq
                    && proof.leaf_index + 1 == reference.seq
                    && proof.tree_size == size
                    && proof.entry_hash == reference.hash,
                || {
                    format!(
                        "the proof is for seq {} (leaf {}) in a tree of {} with entry hash {}, want seq {} in {size} with {}",
                        proof.seq, proof.leaf_index, proof.tree_size, proof.entry_hash, reference.seq, reference.hash
                    )
                },
                &repro,
            )?;
            let verified =
                proof.proof.iter().map(|h| hash32(h)).collect::<Result<Vec<_>, _>>().and_then(|path| {
                    let leaf = merkle::leaf_hash(&hash32(&proof.entry_hash)?);
                    merkle::verify_inclusion(&leaf, proof.leaf_index, size, &path, &opened.root_hash)
                        .map_err(|e| format!("{e:?}"))
                });
            if let Err(error) = verified {
                return Err(trial.fail(
                    format!("the inclusion proof of entry {} does not verify against checkpoint {size} signed by a published key: {error}", reference.seq),
                    Some(repro),
                ));
            }
        }
        Ok(())
    })
}

// --- audit.property_export_verifies ---------------------------------------------

fn export_verifies(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut generator = Generator::new(ctx, EXPORT);
        let rerun = generator.rerun;
        let (_, batch) = audited_batch(ctx, &mut generator, "export").await?;
        let (admin, url) = ctx.client(&ctx.admin_key);
        let keys = admin
            .audit_keys()
            .await
            .map_err(|e| rerun.fail(format!("GET /.well-known/lictor/keys: {e}"), None))?;
        for format in [types::ExportFormatName::Ndjson, types::ExportFormatName::Csv] {
            let path = format!("/v1/admin/audit/export?format={format}");
            let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
            let file = admin
                .audit_export(format, None)
                .await
                .map_err(|e| rerun.fail(format!("GET {path}: {e}"), Some(repro.clone())))?;
            let report = lictor_client::verify_audit_export(file.as_slice(), &keys).map_err(|e| {
                rerun.fail(format!("the {format} export does not verify offline: {e}"), Some(repro.clone()))
            })?;
            let text = String::from_utf8_lossy(&file);
            // Where each entry's hash is, by intent (NDJSON), or the text (CSV).
            let mut hashes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            if format == types::ExportFormatName::Ndjson {
                for line in text.lines() {
                    let record: Value = serde_json::from_str(line).unwrap_or(Value::Null);
                    if let (Some(intent), Some(hash)) =
                        (record["entry"]["intent_id"].as_str(), record["entry"]["hash"].as_str())
                    {
                        hashes.entry(intent.to_string()).or_default().insert(hash.to_string());
                    }
                }
            }
            for audited in &batch {
                let id = audited.decision.intent_id.as_str();
                let held = match (format, &audited.decision.audit) {
                    (types::ExportFormatName::Ndjson, Some(entry)) => {
                        entry.seq <= report.entries && hashes.get(id).is_some_and(|h| h.contains(&entry.hash))
                    }
                    (types::ExportFormatName::Ndjson, None) => !hashes.contains_key(id),
                    (_, Some(entry)) => entry.seq <= report.entries && text.contains(&entry.hash),
                    (_, None) => !text.contains(id),
                };
                audited.trial.check(
                    held,
                    || match &audited.decision.audit {
                        Some(entry) => format!(
                            "the {format} export ({} entries) lacks the entry of {id}: seq {}, hash {}",
                            report.entries, entry.seq, entry.hash
                        ),
                        None => format!("the {format} export holds an entry of {id}, a test intent"),
                    },
                    &repro,
                )?;
            }
        }
        Ok(())
    })
}

// --- auth.property_tenant_isolation ------------------------------------------------

/// One tenant of the isolation case: where intents are declared, and whose
/// admin must not see the other's.
struct Side<'a> {
    tenant: &'a str,
    agent: String,
    key: String,
    admin: &'a str,
}

fn tenant_isolation(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut generator = Generator::new(ctx, ISOLATION);
        let rerun = generator.rerun;
        let ours = fresh_agent(ctx, &ctx.admin_key, rerun, "isolation", None).await?;
        let theirs = fresh_agent(ctx, &ctx.other_admin_key, rerun, "isolation", None).await?;
        let (key_id, their_key) = agent_key(ctx, rerun).await?;
        let sides = [
            Side { tenant: &ctx.tenant, agent: ours, key: ctx.live_key.clone(), admin: &ctx.admin_key },
            Side { tenant: &ctx.other_tenant, agent: theirs, key: their_key, admin: &ctx.other_admin_key },
        ];
        let mut declared: [Vec<(Trial, String)>; 2] = [Vec::new(), Vec::new()];
        for index in generator.indexes() {
            let (drawn, home) = generator.draw(&(intent(), 0usize..2))?;
            let (side, stranger) = (&sides[home], &sides[1 - home]);
            let body = intent_body(&side.agent, &drawn);
            let trial = rerun.trial(index, &json!({"tenant": side.tenant, "request": body}));
            let (decision, _) = declare(ctx, &side.key, &body, &trial).await?;
            let id = decision.intent_id.to_string();
            let (gw, url) = ctx.client(stranger.admin);
            let path = format!("/v1/intents/{id}/decision");
            let repro = curl("GET", &url, &path, stranger.admin, None::<&()>);
            let got = gw.retrying(|| gw.api().intent_decision_get().intent_id(id.as_str()).send()).await;
            not_found(&trial, stranger.tenant, &path, crate::refusal(&got), &repro)?;
            let path = format!("/v1/intents/{id}/audit");
            let repro = curl("GET", &url, &path, stranger.admin, None::<&()>);
            let got = gw.retrying(|| gw.api().intent_audit_list().intent_id(id.as_str()).send()).await;
            not_found(&trial, stranger.tenant, &path, crate::refusal(&got), &repro)?;
            declared[home].push((trial, id));
        }
        for home in 0..2 {
            let (side, stranger) = (&sides[home], &sides[1 - home]);
            lists_hide(ctx, rerun, side, stranger, &declared[home]).await?;
        }
        let (other, url) = ctx.client(&ctx.other_admin_key);
        let repro =
            curl("DELETE", &url, &format!("/v1/admin/api-keys/{key_id}"), &ctx.other_admin_key, None::<&()>);
        other
            .retrying(|| other.api().api_key_revoke().key_id(key_id.as_str()).send())
            .await
            .map_err(|e| rerun.fail(format!("revoking the other tenant's agent key: {e}"), Some(repro)))?;
        Ok(())
    })
}

/// A live agent key of the other tenant, made by its own admin: its id and secret.
async fn agent_key(ctx: &Context, rerun: Rerun) -> Result<(String, String), Failure> {
    let (other, url) = ctx.client(&ctx.other_admin_key);
    let body = json!({"tenant": ctx.other_tenant, "environment": "live", "role": "agent", "name": "conformance-property"});
    let repro = curl("POST", &url, "/v1/admin/api-keys", &ctx.other_admin_key, Some(&body));
    let typed: types::ApiKeyCreate =
        serde_json::from_value(body).map_err(|e| rerun.fail(format!("api key body: {e}"), None))?;
    let made = other
        .retrying(|| other.api().api_key_create().body(typed.clone()).send())
        .await
        .map_err(|e| rerun.fail(format!("creating an agent key in the other tenant: {e}"), Some(repro)))?;
    Ok((made.api_key.id.to_string(), made.key.clone()))
}

/// Fails unless the stranger's request was refused `404 not_found`.
fn not_found(
    trial: &Trial,
    stranger: &str,
    path: &str,
    got: Option<(u16, ErrorCode)>,
    repro: &str,
) -> Outcome {
    trial.check(
        got.as_ref().is_some_and(|(status, code)| *status == 404 && *code == ErrorCode::NotFound),
        || match &got {
            Some((status, code)) => {
                format!("{stranger}'s admin: GET {path} want 404 not_found, got {status} {code}")
            }
            None => format!("{stranger}'s admin: GET {path} want 404 not_found, but it was answered"),
        },
        repro,
    )
}

/// The stranger's lists of intents, audit entries and agents never show the
/// side's intents or agent, and its agent is not found.
async fn lists_hide(
    ctx: &Context,
    rerun: Rerun,
    side: &Side<'_>,
    stranger: &Side<'_>,
    ids: &[(Trial, String)],
) -> Outcome {
    let (gw, url) = ctx.client(stranger.admin);
    let leaked = |found: &dyn Fn(&str) -> bool, what: &str, repro: String| -> Outcome {
        match ids.iter().find(|(_, id)| found(id)) {
            Some((trial, id)) => Err(trial.fail(
                format!("{}'s admin sees {id} of {} in {what}", stranger.tenant, side.tenant),
                Some(repro),
            )),
            None => Ok(()),
        }
    };
    let repro = curl("GET", &url, "/v1/intents?limit=500", stranger.admin, None::<&()>);
    let intents = scan!(gw, gw.api().intent_list().limit(500)).await.map_err(|e| {
        rerun.fail(format!("{}'s admin listing intents: {e}", stranger.tenant), Some(repro.clone()))
    })?;
    let listed: BTreeSet<&str> = intents.iter().map(|i| i.intent_id.as_str()).collect();
    leaked(&|id| listed.contains(id), "its intent list", repro)?;
    let repro = curl("GET", &url, "/v1/admin/audit?limit=500", stranger.admin, None::<&()>);
    let entries = scan!(gw, gw.api().audit_list().limit(500)).await.map_err(|e| {
        rerun.fail(format!("{}'s admin listing audit entries: {e}", stranger.tenant), Some(repro.clone()))
    })?;
    let listed: BTreeSet<&str> =
        entries.iter().filter_map(|e| e.intent_id.as_ref().map(|i| i.as_str())).collect();
    leaked(&|id| listed.contains(id), "its audit log", repro)?;
    let filtered = entries_of(ctx, stranger.admin, rerun, &side.agent).await?;
    if let Some(entry) = filtered.first() {
        return Err(rerun.fail(
            format!(
                "{}'s admin lists entry {} of {}'s agent {}",
                stranger.tenant, entry.seq, side.tenant, side.agent
            ),
            None,
        ));
    }
    let repro = curl("GET", &url, "/v1/agents?limit=500", stranger.admin, None::<&()>);
    let agents = scan!(gw, gw.api().agent_list().limit(500)).await.map_err(|e| {
        rerun.fail(format!("{}'s admin listing agents: {e}", stranger.tenant), Some(repro.clone()))
    })?;
    if agents.iter().any(|a| a.id.as_str() == side.agent) {
        return Err(rerun.fail(
            format!("{}'s admin lists {}'s agent {}", stranger.tenant, side.tenant, side.agent),
            Some(repro),
        ));
    }
    let path = format!("/v1/agents/{}", side.agent);
    let repro = curl("GET", &url, &path, stranger.admin, None::<&()>);
    let got = gw.retrying(|| gw.api().agent_get().agent_id(side.agent.as_str()).send()).await;
    match crate::refusal(&got) {
        Some((404, ErrorCode::NotFound)) => Ok(()),
        other => Err(rerun.fail(
            format!("{}'s admin: GET {path} want 404 not_found, got {other:?}", stranger.tenant),
            Some(repro),
        )),
    }
}
