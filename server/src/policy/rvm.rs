//! regorus' compiled VM (RVM), for the bundles it can run.
//!
//! regorus compiles a bundle to bytecode for a register VM that evaluates
//! two to four times faster than its tree-walking interpreter (it does not
//! build a value for every step). It cannot compile everything (`walk`,
//! `with`, extensions), and two engines are two implementations of Rego: a
//! bundle runs on the VM only when it compiles there *and* both engines
//! give the same answer — the same decision, or both an error — on every
//! input of the differential sample (the decision corpora shipped with the
//! gateway, and whatever recorded inputs the caller adds). Anything else,
//! and the bundle keeps the interpreter.
//!
//! Only the gateway's own bundles run on the VM: the default bundle and
//! each template, with their modules unchanged (their data — a template's
//! settings — may be anything). The VM reads an error inside a rule as the
//! rule not holding, as OPA does, where the interpreter fails the whole
//! evaluation (and the decision blocks): a tenant's Rego whose block rule
//! fails on some input would let that input through on the VM. The shipped
//! rules read only fields whose types the gateway validates, or check the
//! type first, and run on both engines in the test suite; a tenant's own
//! Rego keeps the interpreter.
//!
//! The limits hold on the VM as on the interpreter: the same time limit
//! (regorus' timer as the wall-clock backstop, the thread's CPU time
//! measured around the call), the same heap limit (the allocator's), and
//! the same guarded builtins ([`super::guards::guard_program`] points the
//! program's calls at them).

use std::sync::{Arc, Mutex};

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::{RegoVM, VmError};
use regorus::utils::limits::ExecutionTimerConfig;

use super::{Bundle, ENTRYPOINT, EvaluationLimits, PolicyError, TIMER_CHECK_INTERVAL, guards};

/// A bundle compiled for the VM, with a pool of loaded VMs.
pub(crate) struct VmEngine {
    program: Arc<Program>,
    data: regorus::Value,
    limits: EvaluationLimits,
    pool: Mutex<Vec<RegoVM>>,
}

impl VmEngine {
    /// Compiles `bundle` for the VM; `Err` says why it cannot run there.
    pub(crate) fn compile(bundle: &Bundle, limits: EvaluationLimits) -> Result<VmEngine, String> {
        // A plain engine: the interpreter's guards are extensions, which
        // the VM's compiler does not take (the VM gets them below).
        let mut engine = regorus::Engine::new();
        for (name, source) in bundle.modules() {
            engine.add_policy(name.clone(), source.clone()).map_err(|e| e.to_string())?;
        }
        let data = regorus::Value::from(bundle.data().clone());
        engine.add_data(data.clone()).map_err(|e| e.to_string())?;
        let policy =
            engine.compile_with_entrypoint(&regorus::Rc::from(ENTRYPOINT)).map_err(|e| e.to_string())?;
        let program = Compiler::compile_from_policy(&policy, &[ENTRYPOINT]).map_err(|e| e.to_string())?;
        let mut program = Arc::unwrap_or_clone(program);
        guards::guard_program(&mut program);
        let vm = VmEngine { program: Arc::new(program), data, limits, pool: Mutex::new(Vec::new()) };
        // Loading checks the data against the rules once, here.
        let loaded = vm.load()?;
        vm.give_back(loaded);
        Ok(vm)
    }

    fn load(&self) -> Result<RegoVM, String> {
        let mut vm = RegoVM::new();
        vm.load_program(Arc::clone(&self.program));
        vm.set_data(self.data.clone()).map_err(|e| e.to_string())?;
        // The interpreter's default: a builtin's error is the evaluation's.
        vm.set_strict_builtin_errors(true);
        // Bounded by time, not by a count of instructions.
        vm.set_max_instructions(usize::MAX);
        vm.set_execution_timer_config(Some(ExecutionTimerConfig {
            limit: super::wall_limit(self.limits),
            check_interval: TIMER_CHECK_INTERVAL,
        }));
        Ok(vm)
    }

    fn give_back(&self, vm: RegoVM) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(vm);
        }
    }

    /// Evaluates `data.lictor.decision` for `input`, under the limits.
    pub(crate) fn evaluate(&self, input: regorus::Value) -> Result<regorus::Value, PolicyError> {
        let pooled = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        let mut vm = match pooled {
            Some(vm) => vm,
            None => self.load().map_err(PolicyError::Evaluation)?,
        };
        vm.set_input(input);
        guards::set_vm_limit(self.limits.heap);
        let evaluated = super::within(self.limits, || vm.execute().map_err(limit_or_error));
        // Nothing of this input stays in the pooled VM.
        vm.set_input(regorus::Value::Undefined);
        self.give_back(vm);
        evaluated
    }
}

/// The VM's own limit errors as regorus' [`regorus::LimitError`], which
/// every caller types as a limit (`policy_limit_exceeded`).
fn limit_or_error(error: VmError) -> anyhow::Error {
    let limit = match error {
        VmError::TimeLimitExceeded { elapsed, limit, .. } => {
            regorus::LimitError::TimeLimitExceeded { elapsed, limit }
        }
        VmError::MemoryLimitExceeded { usage, limit, .. } => {
            regorus::LimitError::MemoryLimitExceeded { usage, limit }
        }
        VmError::MemoryBudgetExceeded { usage, budget, .. } => {
            regorus::LimitError::MemoryLimitExceeded { usage, limit: budget }
        }
        VmError::RegexSizeLimitExceeded { limit, .. } => {
            regorus::LimitError::RegexSizeLimitExceeded { limit }
        }
        other => return anyhow::Error::from(other),
    };
    anyhow::Error::from(limit)
}

/// Whether every runtime module of `bundle` is one the gateway ships, as
/// shipped: the default bundle's, or one template's.
pub(crate) fn is_shipped(bundle: &Bundle) -> bool {
    let default = Bundle::default_bundle();
    let mut shipped = std::iter::once(default.modules().clone())
        .chain(super::templates::templates().iter().map(|t| t.bundle().modules().clone()));
    shipped.any(|modules| modules == *bundle.modules())
}

/// The decision corpora shipped with the gateway: realistic inputs of every
/// kind the shipped rules read, on which a bundle's two engines are
/// compared before it runs on the VM.
pub(crate) const SHIPPED_CORPORA: [&str; 6] = [
    include_str!("../../../policies/default/corpus.yaml"),
    include_str!("../../../policies/templates/bulk-rows/corpus.yaml"),
    include_str!("../../../policies/templates/destructive-verbs/corpus.yaml"),
    include_str!("../../../policies/templates/pii-redaction/corpus.yaml"),
    include_str!("../../../policies/templates/regulated-domains/corpus.yaml"),
    include_str!("../../../policies/templates/value-thresholds/corpus.yaml"),
];

/// The inputs of [`SHIPPED_CORPORA`], parsed once.
pub(crate) fn differential_inputs() -> &'static [serde_json::Value] {
    static INPUTS: std::sync::LazyLock<Vec<serde_json::Value>> = std::sync::LazyLock::new(|| {
        SHIPPED_CORPORA
            .iter()
            .filter_map(|text| super::corpus::Corpus::parse(text).ok())
            .flat_map(|corpus| corpus.cases.into_iter().map(|case| case.input))
            .collect()
    });
    &INPUTS
}
