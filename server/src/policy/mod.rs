//! Policy evaluation with regorus.
//!
//! A [`Bundle`] is a set of Rego modules plus optional JSON data, immutable
//! and content-addressed. A [`PolicyEngine`] parses and prepares a bundle
//! once and keeps a pool of prepared regorus engines: an evaluation borrows
//! one, evaluates `data.lictor.decision` and returns it, so nothing is
//! parsed or cloned on the hot path once the pool is warm. (Prepared
//! engines rather than regorus' `CompiledPolicy`, because only an engine
//! carries its own execution time limit.) Evaluation is bounded in time;
//! an evaluation error, an undefined decision or a malformed output is
//! reported as a [`PolicyError`], which the pipeline turns into a `block`
//! (fail closed).

pub mod bundle;
pub mod corpus;
pub(crate) mod dry_run;
mod guards;
pub mod registry;
pub mod rego_tests;
mod rvm;
pub mod templates;

use std::num::NonZeroU32;
use std::time::Duration;

use lictor_api::intents::{Alternative, PatchOperation, Verdict};
use lictor_api::tenants::PolicyRef;
use regorus::utils::limits::ExecutionTimerConfig;
use serde::Deserialize;

pub use bundle::Bundle;
pub use registry::PolicyRegistry;

/// The rule every bundle must define.
pub(crate) const ENTRYPOINT: &str = "data.lictor.decision";

/// Why a policy could not produce a decision.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The bundle does not compile.
    #[error("policy does not compile: {0}")]
    Compile(String),
    /// Evaluation failed.
    #[error("policy evaluation failed: {0}")]
    Evaluation(String),
    /// Evaluation was cut off: it ran past the time limit, or the heap
    /// passed the memory limit while it ran.
    #[error("policy evaluation cut off: {0}")]
    LimitExceeded(String),
    /// `data.lictor.decision` is undefined for this input.
    #[error("policy decision is undefined for this input")]
    Undefined,
    /// The decision does not have the documented shape.
    #[error("policy output is malformed: {0}")]
    MalformedOutput(String),
}

impl PolicyError {
    /// Where a compile error is: `(file, line, column)` from regorus'
    /// `--> file:line:col` marker.
    pub fn location(&self) -> Option<(String, u32, u32)> {
        let PolicyError::Compile(message) = self else { return None };
        let marker = message.lines().find_map(|line| line.trim().strip_prefix("--> "))?;
        let mut parts = marker.trim().rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let line = parts.next()?.parse().ok()?;
        Some((parts.next()?.to_string(), line, column))
    }

    /// The compile error's own words (regorus' `error: …` line), without
    /// the source excerpt.
    pub fn summary(&self) -> String {
        match self {
            PolicyError::Compile(message) => message
                .lines()
                .find_map(|line| line.trim().strip_prefix("error: "))
                .map(str::to_string)
                .unwrap_or_else(|| message.trim().to_string()),
            other => other.to_string(),
        }
    }

    /// Stable reason code used when this error blocks a decision.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::Compile(_) => "policy_compile_error",
            PolicyError::Evaluation(_) => "policy_evaluation_error",
            PolicyError::LimitExceeded(_) => "policy_limit_exceeded",
            PolicyError::Undefined => "policy_undefined",
            PolicyError::MalformedOutput(_) => "policy_malformed_output",
        }
    }
}

/// A reason reported by the policy.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PolicyReason {
    /// Stable code.
    pub code: String,
    /// Explanation.
    pub message: String,
}

/// The policy's answer, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyOutput {
    /// The verdict (`approve` with a non-empty patch is read as `approve_modified`).
    pub verdict: Verdict,
    /// Every matching rule's reason.
    pub reasons: Vec<PolicyReason>,
    /// RFC 6902 patch relative to the intent payload.
    pub patch: Vec<PatchOperation>,
    /// Suggestions.
    pub alternatives: Vec<Alternative>,
}

/// The most alternatives a decision carries.
pub const MAX_ALTERNATIVES: usize = 16;

/// The raw output shape; unknown keys (for example `obligations`) are
/// allowed so bundles can carry data for later stages.
#[derive(Deserialize)]
struct RawOutput {
    verdict: Verdict,
    #[serde(default)]
    reasons: Vec<PolicyReason>,
    #[serde(default)]
    patch: Vec<PatchOperation>,
    #[serde(default)]
    alternatives: Vec<Alternative>,
}

impl PolicyOutput {
    /// Validates a decision document.
    pub fn from_json(value: serde_json::Value) -> Result<PolicyOutput, PolicyError> {
        let raw: RawOutput = lictor_api::extract::parse_value(value)
            .map_err(|e| PolicyError::MalformedOutput(format!("{}{}", e.message, at(&e.path))))?;
        let verdict = match (raw.verdict, raw.patch.is_empty()) {
            (Verdict::Approve, false) => Verdict::ApproveModified,
            (Verdict::ApproveModified, true) => {
                return Err(PolicyError::MalformedOutput("`approve_modified` without a patch".into()));
            }
            (verdict, _) => verdict,
        };
        if raw.alternatives.len() > MAX_ALTERNATIVES {
            return Err(PolicyError::MalformedOutput(format!(
                "{} alternatives, more than the {MAX_ALTERNATIVES} a decision carries",
                raw.alternatives.len()
            )));
        }
        Ok(PolicyOutput { verdict, reasons: raw.reasons, patch: raw.patch, alternatives: raw.alternatives })
    }
}

fn at(path: &Option<String>) -> String {
    path.as_ref().map(|p| format!(" at {p}")).unwrap_or_default()
}

/// Limits on evaluation.
#[derive(Clone, Copy, Debug)]
pub struct EvaluationLimits {
    /// Time budget of one evaluation: the CPU time of the thread that
    /// evaluates (work done), where the platform measures it (Linux);
    /// wall-clock time elsewhere. See [`WALL_BACKSTOP`].
    pub time: Duration,
    /// The process heap above which evaluations stop (bytes). regorus
    /// counts every allocation of the process through its allocator shim
    /// and checks the total as evaluation proceeds, so a policy that grows
    /// without bound is stopped (with `policy_limit_exceeded`) instead of
    /// exhausting the machine. Process-wide: see [`apply_memory_limit`].
    pub heap: u64,
}

/// Default heap ceiling: 1 GiB.
pub(crate) const DEFAULT_HEAP_LIMIT: u64 = 1 << 30;

impl Default for EvaluationLimits {
    fn default() -> EvaluationLimits {
        EvaluationLimits { time: Duration::from_millis(100), heap: DEFAULT_HEAP_LIMIT }
    }
}

impl EvaluationLimits {
    /// Limits for running a bundle's own unit tests and decision corpora
    /// (`lictor policy test`, the test suite): what is checked there is
    /// what the policy decides, not how fast, so a loaded machine or a
    /// debug build must not turn a case into a time-limit failure.
    pub fn offline() -> EvaluationLimits {
        EvaluationLimits { time: Duration::from_secs(30), ..EvaluationLimits::default() }
    }
}

/// Sets the process heap above which policy evaluations stop. One value
/// per process (regorus keeps it globally): the gateway sets it at start.
pub fn apply_memory_limit(limits: EvaluationLimits) {
    regorus::set_global_memory_limit(Some(limits.heap));
}

/// Types an evaluation failure: regorus' limit errors are cut-offs.
fn evaluation_error(error: &anyhow::Error) -> PolicyError {
    // regorus words an extension's error into its own: a guarded builtin's
    // refusal is recorded beside it.
    let refused = guards::take_refusal();
    match error.chain().find_map(|cause| cause.downcast_ref::<regorus::LimitError>()).copied().or(refused) {
        Some(limit) => PolicyError::LimitExceeded(limit.to_string()),
        None => PolicyError::Evaluation(error.to_string()),
    }
}

/// Where the thread's CPU time is measured, the wall-clock limit regorus
/// enforces during evaluation is this many times the time limit: a host
/// too busy to run the evaluating thread does not turn a fast policy into
/// a time-limit `block`, while a policy that really works that long is
/// still stopped — at the CPU limit once it finishes, or at this backstop
/// if it runs away.
/// Three times: a loaded host rarely holds a thread off the CPU that
/// long, and a runaway policy ties up a worker thread for at most that.
pub const WALL_BACKSTOP: u32 = 3;

/// The calling thread's CPU time, where the platform measures it.
fn thread_cpu_time() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        let secs = u64::try_from(now.tv_sec).ok()?;
        let nanos = u32::try_from(now.tv_nsec).ok()?;
        Some(Duration::new(secs, nanos))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The wall-clock limit regorus enforces for `limits`.
fn wall_limit(limits: EvaluationLimits) -> Duration {
    match thread_cpu_time() {
        Some(_) => limits.time.saturating_mul(WALL_BACKSTOP),
        None => limits.time,
    }
}

/// Evaluates `rule` under `limits`: a limit regorus hit, a guarded
/// builtin refused, or more CPU time than the limit is
/// [`PolicyError::LimitExceeded`]; any other failure
/// [`PolicyError::Evaluation`].
pub(crate) fn eval_within(
    engine: &mut regorus::Engine,
    rule: &str,
    limits: EvaluationLimits,
) -> Result<regorus::Value, PolicyError> {
    within(limits, || engine.eval_rule(rule.to_string()))
}

/// Runs one evaluation, of either engine, under `limits` (see
/// [`eval_within`]).
fn within(
    limits: EvaluationLimits,
    evaluate: impl FnOnce() -> anyhow::Result<regorus::Value>,
) -> Result<regorus::Value, PolicyError> {
    guards::take_refusal();
    let started = thread_cpu_time();
    let evaluated = evaluate();
    let used = started.zip(thread_cpu_time()).map(|(from, to)| to.saturating_sub(from));
    let over = |elapsed| {
        let limit = limits.time;
        PolicyError::LimitExceeded(regorus::LimitError::TimeLimitExceeded { elapsed, limit }.to_string())
    };
    let value = evaluated.map_err(|e| match evaluation_error(&e) {
        // The backstop stopped it: say what it used against the limit.
        PolicyError::LimitExceeded(_) if used.is_some_and(|u| u > limits.time) => {
            over(used.unwrap_or_default())
        }
        other => other,
    })?;
    match used {
        Some(used) if used > limits.time => Err(over(used)),
        _ => Ok(value),
    }
}

/// How many evaluation steps pass between two reads of the clock. Reading
/// it on every step cost about 15% of an evaluation of the bench bundle
/// (docs/performance.md); 64 steps take microseconds, so the time limit
/// still holds to well under a millisecond.
const TIMER_CHECK_INTERVAL: NonZeroU32 = match NonZeroU32::new(64) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// A prepared bundle, ready to evaluate concurrently.
pub struct PolicyEngine {
    bundle: Bundle,
    limits: EvaluationLimits,
    /// Prepared once; cloned only when every pooled engine is busy.
    template: regorus::Engine,
    pool: std::sync::Mutex<Vec<regorus::Engine>>,
    /// The bundle on regorus' compiled VM, once it is known to run there
    /// and decide as the interpreter does ([`rvm`]).
    vm: std::sync::OnceLock<rvm::VmEngine>,
    /// Why the bundle runs on the interpreter, once that is settled.
    interpreted_because: std::sync::OnceLock<String>,
}

/// How long comparing a bundle's two engines may take: a bundle slow
/// enough to need more stays on the interpreter rather than tie up a
/// thread for a minute at every promotion.
const DIFFERENTIAL_BUDGET: Duration = Duration::from_secs(2);

/// Which bundles may run on the compiled VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VmUse {
    /// Those whose modules are the gateway's own (see [`rvm`]).
    Shipped,
    /// Any that compiles there and decides alike (tests of the VM itself).
    #[cfg(test)]
    Any,
}

/// Which of regorus' engines evaluates a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// The compiled VM.
    Vm,
    /// The tree-walking interpreter.
    Interpreter,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("bundle", &self.bundle.name())
            .field("hash", &self.bundle.hash())
            .finish()
    }
}

impl PolicyEngine {
    /// Parses and prepares `bundle` (its runtime modules and data), and
    /// checks that it defines the entry point.
    pub fn compile(bundle: Bundle, limits: EvaluationLimits) -> Result<PolicyEngine, PolicyError> {
        PolicyEngine::compile_for(bundle, limits, VmUse::Shipped)
    }

    fn compile_for(
        bundle: Bundle,
        limits: EvaluationLimits,
        vm_use: VmUse,
    ) -> Result<PolicyEngine, PolicyError> {
        let engine = PolicyEngine::compile_interpreted(bundle, limits)?;
        engine.prepare_vm_for(vm_use);
        Ok(engine)
    }

    /// Parses and prepares `bundle` for the interpreter only: it evaluates
    /// at once; [`PolicyEngine::prepare_vm`] may move it to the VM later
    /// (the gateway does so for the default bundle after it is ready, so
    /// comparing the engines does not hold up its start).
    pub fn compile_interpreted(
        bundle: Bundle,
        limits: EvaluationLimits,
    ) -> Result<PolicyEngine, PolicyError> {
        let mut template = new_engine(&bundle, limits)?;
        // Preparing by compiling the entry point surfaces every semantic
        // error now rather than on the first request.
        template
            .compile_with_entrypoint(&regorus::Rc::from(ENTRYPOINT))
            .map_err(|e| PolicyError::Compile(e.to_string()))?;
        Ok(PolicyEngine::interpreted(bundle, limits, template))
    }

    /// Moves the bundle to the compiled VM if it is the gateway's own, the
    /// VM compiles it, and both engines agree on the shipped corpora;
    /// answers the engine now in use.
    pub fn prepare_vm(&self) -> EngineKind {
        self.prepare_vm_for(VmUse::Shipped)
    }

    fn prepare_vm_for(&self, vm_use: VmUse) -> EngineKind {
        if self.vm.get().is_some() || self.interpreted_because.get().is_some() {
            return self.engine_kind();
        }
        let verdict = if vm_use == VmUse::Shipped && !self.bundle.is_shipped() {
            Err("its Rego is not a bundle the gateway ships".to_string())
        } else {
            match rvm::VmEngine::compile(&self.bundle, self.limits) {
                Ok(vm) => match self.differs(&vm, rvm::differential_inputs(), DIFFERENTIAL_BUDGET) {
                    None => Ok(vm),
                    Some(difference) => Err(difference),
                },
                Err(error) => Err(format!("it does not compile for the VM: {error}")),
            }
        };
        match verdict {
            Ok(vm) => {
                let _ = self.vm.set(vm);
            }
            Err(reason) => {
                let _ = self.interpreted_because.set(reason);
            }
        }
        self.engine_kind()
    }

    /// `bundle` on the interpreter alone, prepared as `template`.
    fn interpreted(bundle: Bundle, limits: EvaluationLimits, template: regorus::Engine) -> PolicyEngine {
        PolicyEngine {
            bundle,
            limits,
            template,
            pool: std::sync::Mutex::new(Vec::new()),
            vm: std::sync::OnceLock::new(),
            interpreted_because: std::sync::OnceLock::new(),
        }
    }

    /// The first input on which the VM does not answer as the interpreter
    /// does, described; `None` when it answers alike on all of them.
    fn differs<'a>(
        &self,
        vm: &rvm::VmEngine,
        inputs: impl IntoIterator<Item = &'a serde_json::Value>,
        budget: Duration,
    ) -> Option<String> {
        let started = std::time::Instant::now();
        for (index, input) in inputs.into_iter().enumerate() {
            if started.elapsed() > budget {
                return Some(format!("comparing the engines took longer than {budget:?}"));
            }
            let interpreted = self.interpret(input);
            let compiled = vm.evaluate(regorus::Value::from(input.clone()));
            let same = match (&interpreted, &compiled) {
                (Ok(a), Ok(b)) => a == b,
                // A limit is the machine's, not the bundle's: judge it again.
                (Err(PolicyError::LimitExceeded(_)), _) | (_, Err(PolicyError::LimitExceeded(_))) => {
                    return Some(format!("input {index} of the differential sample hit a limit"));
                }
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if !same {
                let show = |r: &Result<regorus::Value, PolicyError>| match r {
                    Ok(value) => value.to_json_str().unwrap_or_default(),
                    Err(error) => error.to_string(),
                };
                return Some(format!(
                    "on input {index} of the differential sample the VM answers {} where the interpreter answers {}",
                    show(&compiled),
                    show(&interpreted)
                ));
            }
        }
        None
    }

    /// Keeps the VM only if it also answers as the interpreter does on
    /// `inputs` (a tenant's recorded inputs, say); answers the engine now
    /// in use.
    pub fn confirm_on<'a>(&mut self, inputs: impl IntoIterator<Item = &'a serde_json::Value>) -> EngineKind {
        if let Some(vm) = self.vm.get()
            && let Some(difference) = self.differs(vm, inputs, DIFFERENTIAL_BUDGET)
        {
            self.vm.take();
            self.interpreted_because = std::sync::OnceLock::from(difference);
        }
        self.engine_kind()
    }

    /// Which engine evaluates the bundle.
    pub fn engine_kind(&self) -> EngineKind {
        if self.vm.get().is_some() { EngineKind::Vm } else { EngineKind::Interpreter }
    }

    /// Why the bundle runs on the interpreter (`None` on the VM).
    pub fn interpreted_because(&self) -> Option<&str> {
        self.interpreted_because.get().map(String::as_str)
    }

    /// Evaluates with the interpreter.
    fn interpret(&self, input: &serde_json::Value) -> Result<regorus::Value, PolicyError> {
        let pooled = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        let mut engine = pooled.unwrap_or_else(|| self.template.clone());
        engine.set_input(regorus::Value::from(input.clone()));
        let evaluated = eval_within(&mut engine, ENTRYPOINT, self.limits);
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(engine);
        }
        evaluated
    }

    /// The bundle this engine evaluates.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The reference recorded on decisions.
    pub fn policy_ref(&self) -> PolicyRef {
        PolicyRef { bundle_hash: self.bundle.hash().to_string(), bundle_name: self.bundle.name().to_string() }
    }

    /// Evaluates the decision for `input`.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<PolicyOutput, PolicyError> {
        let value = match self.vm.get() {
            Some(vm) => vm.evaluate(regorus::Value::from(input.clone()))?,
            None => self.interpret(input)?,
        };
        if value == regorus::Value::Undefined {
            return Err(PolicyError::Undefined);
        }
        let json = serde_json::to_value(&value).map_err(|e| PolicyError::MalformedOutput(e.to_string()))?;
        PolicyOutput::from_json(json)
    }
}

/// Checks that `bundle`'s test modules parse along with its runtime
/// modules (they are saved with drafts and run by `lictor policy test`).
pub(crate) fn check_tests(bundle: &Bundle, limits: EvaluationLimits) -> Result<(), PolicyError> {
    if bundle.tests().is_empty() {
        return Ok(());
    }
    let mut engine = new_engine(bundle, limits)?;
    for (name, source) in bundle.tests() {
        engine.add_policy(name.clone(), source.clone()).map_err(|e| PolicyError::Compile(e.to_string()))?;
    }
    Ok(())
}

/// A regorus engine loaded with `bundle`'s runtime modules and data.
pub(crate) fn new_engine(bundle: &Bundle, limits: EvaluationLimits) -> Result<regorus::Engine, PolicyError> {
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: wall_limit(limits),
        check_interval: TIMER_CHECK_INTERVAL,
    });
    guards::install(&mut engine, limits.heap)?;
    for (name, source) in bundle.modules() {
        engine.add_policy(name.clone(), source.clone()).map_err(|e| PolicyError::Compile(e.to_string()))?;
    }
    engine
        .add_data(regorus::Value::from(bundle.data().clone()))
        .map_err(|e| PolicyError::Compile(e.to_string()))?;
    Ok(engine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn engine() -> PolicyEngine {
        PolicyEngine::compile(Bundle::default_bundle(), EvaluationLimits::offline())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn default_bundle_compiles_and_decides() {
        let input = json!({"intent": {"agent": {"id": "a"}, "action": {"type": "access", "verb": "read"}}});
        let out = engine().evaluate(&input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.verdict, Verdict::Approve);
        assert!(out.reasons.is_empty());
    }

    #[test]
    fn malformed_outputs_are_rejected() {
        assert!(matches!(
            PolicyOutput::from_json(json!({"verdict": "maybe"})),
            Err(PolicyError::MalformedOutput(_))
        ));
        assert!(matches!(
            PolicyOutput::from_json(json!({"verdict": "approve_modified"})),
            Err(PolicyError::MalformedOutput(_))
        ));
        assert!(matches!(
            PolicyOutput::from_json(json!({"verdict": "block", "reasons": [{"code": 1}]})),
            Err(PolicyError::MalformedOutput(_))
        ));
        let patched = PolicyOutput::from_json(json!({
            "verdict": "approve", "patch": [{"op": "remove", "path": "/summary"}]
        }));
        assert_eq!(patched.map(|o| o.verdict), Ok(Verdict::ApproveModified));
    }

    #[test]
    fn compile_errors_name_file_line_and_column() {
        let bundle = Bundle::new(
            "broken",
            [(
                "rules/p.rego".to_string(),
                "package lictor\nimport rego.v1\n\ndecision := {\n  x :=\n}\n".to_string(),
            )],
            json!({}),
        );
        let error = PolicyEngine::compile(bundle, EvaluationLimits::default()).unwrap_err();
        let (file, line, column) = error.location().unwrap_or_else(|| panic!("{error}"));
        assert_eq!(file, "rules/p.rego");
        assert_eq!(line, 5, "{error}");
        assert!(column >= 1);
        assert!(!error.summary().contains("-->"), "{}", error.summary());
        assert_eq!(PolicyError::Undefined.location(), None);
    }

    #[test]
    fn undefined_decision_is_an_error() {
        let bundle = Bundle::new(
            "undefined",
            [(
                "p.rego".to_string(),
                "package lictor\nimport rego.v1\ndecision := 1 if input.never\n".to_string(),
            )],
            json!({}),
        );
        let engine =
            PolicyEngine::compile(bundle, EvaluationLimits::offline()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.evaluate(&json!({})), Err(PolicyError::Undefined));
    }

    #[test]
    fn the_shipped_bundles_run_on_the_vm() {
        // Every case of every shipped corpus is in the differential sample.
        let cases: usize = rvm::SHIPPED_CORPORA
            .iter()
            .map(|text| corpus::Corpus::parse(text).unwrap_or_else(|e| panic!("{e}")).cases.len())
            .sum();
        assert!(cases >= 60, "{cases}");
        assert_eq!(rvm::differential_inputs().len(), cases);
        let engine = engine();
        assert_eq!(engine.engine_kind(), EngineKind::Vm, "{:?}", engine.interpreted_because());
        for template in templates::templates() {
            let engine = PolicyEngine::compile(template.bundle(), EvaluationLimits::offline())
                .unwrap_or_else(|e| panic!("{}: {e}", template.name));
            assert_eq!(
                engine.engine_kind(),
                EngineKind::Vm,
                "{}: {:?}",
                template.name,
                engine.interpreted_because()
            );
        }
    }

    /// The gateway starts on the interpreter and moves its default bundle
    /// to the VM afterwards; evaluations in between are the interpreter's.
    #[test]
    fn an_engine_moves_to_the_vm_once_prepared() {
        let engine = PolicyEngine::compile_interpreted(Bundle::default_bundle(), EvaluationLimits::offline())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.engine_kind(), EngineKind::Interpreter);
        let input = json!({"intent": {"agent": {"id": "a"}, "action": {"type": "access", "verb": "read"}}});
        let before = engine.evaluate(&input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.prepare_vm(), EngineKind::Vm, "{:?}", engine.interpreted_because());
        assert_eq!(engine.evaluate(&input).unwrap_or_else(|e| panic!("{e}")), before);
        // Preparing again changes nothing.
        assert_eq!(engine.prepare_vm(), EngineKind::Vm);
    }

    /// A tenant's own Rego keeps the interpreter's semantics (an error
    /// anywhere fails the decision), even where the VM would compile it;
    /// a shipped template keeps the VM with any settings.
    #[test]
    fn only_the_gateways_own_bundles_run_on_the_vm() {
        let source = "package lictor\nimport rego.v1\n\
                      decision := {\"verdict\": \"approve\", \"reasons\": []}\n";
        let own = Bundle::new("own", [("p.rego".to_string(), source.to_string())], json!({}));
        let engine =
            PolicyEngine::compile(own, EvaluationLimits::offline()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.engine_kind(), EngineKind::Interpreter);
        let template = templates::template("value-thresholds").unwrap_or_else(|| panic!("no template"));
        let tuned = template.bundle();
        let mut data = tuned.data().clone();
        data["value_thresholds"]["block_above"] = json!(5);
        let tuned = Bundle::new("tuned", tuned.modules().clone(), data);
        let engine =
            PolicyEngine::compile(tuned, EvaluationLimits::offline()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.engine_kind(), EngineKind::Vm, "{:?}", engine.interpreted_because());
        // One module changed by a character is the tenant's own.
        let mut modules = template.bundle().modules().clone();
        if let Some(source) = modules.values_mut().next() {
            source.push('\n');
        }
        let edited = Bundle::new("edited", modules, template.bundle().data().clone());
        let engine =
            PolicyEngine::compile(edited, EvaluationLimits::offline()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.engine_kind(), EngineKind::Interpreter);
    }

    #[test]
    fn a_bundle_the_vm_cannot_compile_runs_on_the_interpreter() {
        let source = "package lictor\nimport rego.v1\n\
                      decision := {\"verdict\": \"approve\", \"reasons\": [], \"n\": count(strings)}\n\
                      strings contains v if { walk(input, [_, v]); is_string(v) }\n";
        let bundle = Bundle::new("walker", [("p.rego".to_string(), source.to_string())], json!({}));
        let engine = PolicyEngine::compile_for(bundle, EvaluationLimits::offline(), VmUse::Any)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.engine_kind(), EngineKind::Interpreter);
        assert!(
            engine.interpreted_because().unwrap_or_default().contains("walk"),
            "{:?}",
            engine.interpreted_because()
        );
        assert_eq!(engine.evaluate(&json!({"a": ["x", "y"]})).map(|o| o.verdict), Ok(Verdict::Approve));
    }

    /// The two engines disagree on iterating over a string (the
    /// interpreter fails, the VM and OPA find nothing): a bundle that does
    /// it on an input of the sample keeps the interpreter.
    #[test]
    fn a_bundle_the_engines_disagree_on_runs_on_the_interpreter() {
        let source = "package lictor\nimport rego.v1\n\
                      decision := {\"verdict\": \"approve\", \"reasons\": [], \"n\": count([k | some k, _ in input.x])}\n";
        let bundle = Bundle::new("iterates", [("p.rego".to_string(), source.to_string())], json!({}));
        let mut engine = PolicyEngine::compile_for(bundle, EvaluationLimits::offline(), VmUse::Any)
            .unwrap_or_else(|e| panic!("{e}"));
        // No shipped input has `x`: the engines agree on all of them.
        assert_eq!(engine.engine_kind(), EngineKind::Vm);
        assert_eq!(engine.confirm_on(&[json!({"x": [1, 2]})]), EngineKind::Vm);
        assert_eq!(engine.confirm_on(&[json!({"x": "abc"})]), EngineKind::Interpreter);
        assert!(engine.interpreted_because().unwrap_or_default().contains("input 0"));
        // The interpreter's answer stands: an error, so a block upstream.
        assert!(matches!(engine.evaluate(&json!({"x": "abc"})), Err(PolicyError::Evaluation(_))));
    }

    /// Comparing the engines is bounded in time: past the budget, the
    /// bundle stays on the interpreter.
    #[test]
    fn a_comparison_past_its_budget_keeps_the_interpreter() {
        let engine = PolicyEngine::compile_interpreted(Bundle::default_bundle(), EvaluationLimits::offline())
            .unwrap_or_else(|e| panic!("{e}"));
        let vm = rvm::VmEngine::compile(engine.bundle(), EvaluationLimits::offline())
            .unwrap_or_else(|e| panic!("{e}"));
        let inputs = rvm::differential_inputs();
        assert_eq!(engine.differs(&vm, inputs, Duration::from_secs(60)), None);
        let over = engine.differs(&vm, inputs, Duration::ZERO).unwrap_or_default();
        assert!(over.contains("took longer"), "{over}");
    }

    /// The VM keeps the limits: the time limit, and the guarded builtins.
    #[test]
    fn limits_hold_on_the_vm() {
        let source = "package lictor\nimport rego.v1\n\
                      default decision := {\"verdict\": \"approve\", \"reasons\": []}\n\
                      decision := {\"verdict\": \"block\", \"reasons\": []} if {\n\
                        some x in numbers.range(1, input.n)\n\
                        some y in numbers.range(1, input.n)\n\
                        x * y == -1\n\
                      }\n\
                      decision := {\"verdict\": \"block\", \"reasons\": []} if { count(sprintf(input.f, [1])) < 0 }\n";
        let bundle = Bundle::new("greedy", [("p.rego".to_string(), source.to_string())], json!({}));
        let limits = EvaluationLimits { time: Duration::from_millis(20), heap: 64 << 20 };
        let engine = PolicyEngine::compile_for(bundle, limits, VmUse::Any).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.engine_kind(), EngineKind::Vm, "{:?}", engine.interpreted_because());
        assert_eq!(engine.evaluate(&json!({"n": 3})).map(|o| o.verdict), Ok(Verdict::Approve));
        let limited = |input: serde_json::Value| {
            let result = engine.evaluate(&input);
            assert!(matches!(result, Err(PolicyError::LimitExceeded(_))), "{input}: {result:?}");
        };
        // 25 million steps: the time limit.
        limited(json!({"n": 5000}));
        // A range the heap cannot hold, refused before it is allocated.
        limited(json!({"n": 1_000_000_000_000_i64}));
        // A width Go's fmt refuses: refused before it is allocated. (The VM
        // reads an error inside a rule as the rule not holding, as OPA
        // does; the interpreter fails the whole evaluation: why only the
        // gateway's own bundles run on the VM.)
        assert!(matches!(engine.interpret(&json!({"f": "%4000000000d"})), Err(PolicyError::Evaluation(_))));
        assert_eq!(engine.evaluate(&json!({"f": "%4000000000d"})).map(|o| o.verdict), Ok(Verdict::Approve));
    }

    #[test]
    fn runaway_policies_are_cut_off() {
        // 25 million iterations that never match: undefined if it ran to
        // the end, an evaluation error when the time limit cuts it off.
        let source = "package lictor\nimport rego.v1\n\
                      decision := {\"verdict\": \"approve\"} if {\n\
                        some x in numbers.range(1, 5000)\n\
                        some y in numbers.range(1, 5000)\n\
                        x * y == -1\n\
                      }\n";
        let bundle = Bundle::new("runaway", [("p.rego".to_string(), source.to_string())], json!({}));
        let limits = EvaluationLimits { time: Duration::from_millis(20), ..EvaluationLimits::default() };
        let engine = PolicyEngine::compile(bundle, limits).unwrap_or_else(|e| panic!("{e}"));
        let result = engine.evaluate(&json!({}));
        assert!(matches!(result, Err(PolicyError::LimitExceeded(_))), "{result:?}");
        assert_eq!(result.unwrap_err().code(), "policy_limit_exceeded");
    }

    /// The time limit counts the evaluating thread's work: a thread the
    /// host does not run for a while (here: asleep in a builtin) is not cut
    /// off, however long the wall clock says it took.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_held_off_the_cpu_is_not_over_the_time_limit() {
        let source = "package lictor\nimport rego.v1\n\
                      decision := {\"verdict\": \"approve\"} if {\n\
                        lictor_test.pause(1)\n\
                        count([x | some x in numbers.range(1, 2000); x > 0]) == 2000\n\
                      }\n";
        let bundle = Bundle::new("paused", [("p.rego".to_string(), source.to_string())], json!({}));
        let limits = EvaluationLimits { time: Duration::from_millis(40), ..EvaluationLimits::default() };
        let mut template = new_engine(&bundle, limits).unwrap_or_else(|e| panic!("{e}"));
        // Longer than the limit, shorter than the backstop (120 ms).
        let pause = |_: Vec<regorus::Value>| -> anyhow::Result<regorus::Value> {
            std::thread::sleep(Duration::from_millis(80));
            Ok(regorus::Value::Bool(true))
        };
        template
            .add_extension("lictor_test.pause".into(), 1, Box::new(pause))
            .unwrap_or_else(|e| panic!("{e}"));
        template.compile_with_entrypoint(&regorus::Rc::from(ENTRYPOINT)).unwrap_or_else(|e| panic!("{e}"));
        let engine = PolicyEngine::interpreted(bundle, limits, template);
        let started = std::time::Instant::now();
        let out = engine.evaluate(&json!({})).unwrap_or_else(|e| panic!("{e}"));
        assert!(started.elapsed() > limits.time, "the evaluation was not held off for longer than the limit");
        assert_eq!(out.verdict, Verdict::Approve);
    }
}
