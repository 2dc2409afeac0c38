//! CEL conditions: a pipeline's `filter` and a destination's `when`.
//!
//! A [`Condition`] is compiled once, when settings are loaded, so a syntax error fails
//! `klaxon check` and startup rather than the first event. It is then evaluated for every
//! event against a [`ConditionInput`]: the event type, the JSON payload and the labels added
//! so far by earlier pipeline steps.
//!
//! # What an expression can name
//!
//! - `event_type`: the event's type, a string. (`type` is not used for it: in CEL `type` is
//!   the name of the type of types, as in `type(x) == int`, and webhook payloads often carry a
//!   field called `type` of their own, which is a variable like any other field.)
//! - `payload`: the whole payload, for `has(payload.customer)` or `payload.customer.tier`.
//! - `labels`: every label as a map, for `"urgency" in labels`.
//! - Every label by name, then every top-level payload field by name: `urgency`, `amount`. A
//!   label hides a payload field of the same name, because a label is Klaxon's considered
//!   view of the event and the field is what the sender happened to send.
//!
//! The three fixed names win over a label or field that shares them, so `payload` always
//! means the payload. A name that is neither a label nor a field but is a CEL type name
//! (`type`, `int`, `string`, …) is that type, so `type == "x"` on an event with no `type`
//! field is false rather than an error. Functions are the CEL standard library (`size`, `contains`,
//! `startsWith`, `endsWith`, `matches`, `exists`, `all`, `has`, …) plus the strings extension
//! (`lowerAscii`, `upperAscii`, `trim`, `split`, `replace`, …).
//!
//! # Errors at evaluation
//!
//! [`Condition::evaluate`] returns an [`EvalError`] for a name that is neither a label nor a
//! field, a result that is not a `bool`, a type mismatch, or a panic inside the interpreter
//! (caught, so one bad expression cannot take a worker down). Pipelines treat every such
//! error as "no match" and log it; [`Condition::matches`] does exactly that.
//!
//! # Cost
//!
//! Only what an expression can observe is converted from JSON, once per evaluation, and
//! strings are borrowed rather than copied: `urgency == "critical"` touches one label, and
//! `payload.customer.tier` one field, however large the payload (the `projection`
//! submodule works out which). A use that needs a whole value, such as `size(payload)` or
//! `"vip" in tags`, converts all of it: about 5 µs for a 2 KB payload, against some 0.3 µs
//! for a typical condition.
//!
//! This module does not decide what a pipeline does with a match; it only answers the
//! question.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock};

use cel::common::ast::{Expr, LiteralValue};
use cel::common::types::{CelBool, CelString};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, DeclarationError, Env, ExecutionError, Program, Value};
use serde_json::{Map, Value as Json};

mod projection;

use projection::{Projection, collect_uses, project, project_object};

/// The variable holding the event type.
const EVENT_TYPE: &str = "event_type";
/// The variable holding the whole payload.
const PAYLOAD: &str = "payload";
/// The variable holding every label as a map.
const LABELS: &str = "labels";

/// The CEL environment every condition is compiled and run with.
///
/// It is global because it is immutable and identical for every condition: building it
/// registers a few hundred overloads (tens of microseconds), which there is no reason to
/// repeat per condition. It is a `Result` because registering the strings extension is
/// fallible in cel's API, though it cannot fail for a fixed set of names.
static ENVIRONMENT: LazyLock<Result<Arc<Env>, DeclarationError>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)?;
    Ok(Arc::new(env))
});

/// A compiled CEL condition, ready to be evaluated against any number of events.
///
/// It is `Send + Sync` and cheap to clone, so one compiled condition serves every worker.
#[derive(Clone)]
pub struct Condition {
    source: Arc<str>,
    program: Arc<Program>,
    env: Arc<Env>,
    /// The free variables the expression names, each with where its value comes from,
    /// worked out once here so that evaluation converts only what the expression uses.
    variables: Arc<[Variable]>,
}

/// A name the expression refers to, where its value comes from, and how much of it the
/// expression can observe.
#[derive(Debug)]
struct Variable {
    name: Box<str>,
    source: VariableSource,
    projection: Projection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VariableSource {
    EventType,
    Payload,
    Labels,
    /// A label of that name, else a top-level payload field of that name, else unbound:
    /// unbound is not an error by itself, as the name may be a comprehension variable
    /// (`tags.exists(t, t == "vip")`) or a type (`int`), which CEL resolves itself.
    LabelOrField,
}

/// What a condition is evaluated against: one event, and the labels added so far.
#[derive(Debug, Clone, Copy)]
pub struct ConditionInput<'a> {
    /// The event's type, e.g. `ticket.created`.
    pub event_type: &'a str,
    /// The event's JSON payload. Its top-level fields are variables only if it is an
    /// object; any payload is reachable as `payload`.
    pub payload: &'a Json,
    /// Labels added by earlier steps. JSON values rather than strings, so a step may add a
    /// number or a list (`score > 0.8`, `"billing" in teams`) and compare it as such.
    pub labels: &'a Map<String, Json>,
}

/// Why a condition could not be compiled. Each is a configuration error for `klaxon check`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConditionError {
    /// The expression is empty or only whitespace.
    #[error("the condition is empty: write a CEL expression such as `urgency == \"critical\"`")]
    Empty,
    /// The expression is not valid CEL.
    #[error("invalid CEL condition `{condition}`: {}", join_syntax_errors(.errors))]
    Syntax {
        condition: String,
        /// At least one; CEL's parser recovers and reports several where it can.
        errors: Vec<SyntaxError>,
    },
    /// The expression is a literal that can never be a boolean, such as `"critical"` or
    /// `42`: it parses, but could only ever fail.
    #[error(
        "the condition `{condition}` is a {found} literal, and a condition must be true or false"
    )]
    NotBoolean {
        condition: String,
        found: &'static str,
    },
    /// The CEL environment could not be built. This is a bug in Klaxon, not in the
    /// configuration.
    #[error("the CEL environment could not be built: {0}")]
    Environment(DeclarationError),
    /// The CEL parser panicked on this input; reported rather than crashing `klaxon check`.
    #[error("the CEL parser failed on `{condition}`: {message}")]
    ParserPanicked { condition: String, message: String },
}

/// One syntax error, located in the condition's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong there, as CEL's parser puts it.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

fn join_syntax_errors(errors: &[SyntaxError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why evaluating a condition gave no answer. Pipelines count each as "no match".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The expression names something that is neither a label nor a payload field of this
    /// event. Common and benign when one filter sees events of several shapes; write
    /// `has(payload.amount) && payload.amount > 5` to make the absence explicit.
    #[error("no label or payload field named `{name}`")]
    UnknownVariable { name: String },
    /// The expression produced a value that is not a `bool`.
    #[error("expression returned {found}, expected bool")]
    NotBool { found: String },
    /// CEL reported an error: a type mismatch (`amount > "5"`), a missing map key, a bad
    /// regular expression, an overflow.
    #[error("{0}")]
    Execution(ExecutionError),
    /// The CEL interpreter panicked. Caught so that the worker survives.
    #[error("the CEL interpreter panicked: {message}")]
    Panicked { message: String },
}

impl Condition {
    /// Compiles `source`, failing with a located message if it is not a usable condition.
    pub fn compile(source: &str) -> Result<Self, ConditionError> {
        if source.trim().is_empty() {
            return Err(ConditionError::Empty);
        }
        let env = match &*ENVIRONMENT {
            Ok(env) => Arc::clone(env),
            Err(e) => return Err(ConditionError::Environment(e.clone())),
        };
        let program = guarded(|| env.compile(source))
            .map_err(|message| ConditionError::ParserPanicked {
                condition: source.to_owned(),
                message,
            })?
            .map_err(|e| ConditionError::Syntax {
                condition: source.to_owned(),
                errors: e.errors.iter().map(syntax_error).collect(),
            })?;
        if let Some(found) = non_boolean_literal(&program.expression().expr) {
            return Err(ConditionError::NotBoolean {
                condition: source.to_owned(),
                found,
            });
        }

        let mut uses = BTreeMap::new();
        collect_uses(program.expression(), &mut uses);
        let variables = uses
            .into_iter()
            .map(|(name, projection)| Variable {
                source: match name {
                    EVENT_TYPE => VariableSource::EventType,
                    PAYLOAD => VariableSource::Payload,
                    LABELS => VariableSource::Labels,
                    _ => VariableSource::LabelOrField,
                },
                name: name.into(),
                projection,
            })
            .collect();

        Ok(Condition {
            source: source.into(),
            program: Arc::new(program),
            env,
            variables,
        })
    }

    /// The expression as written in the configuration.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the condition for one event.
    pub fn evaluate(&self, input: &ConditionInput<'_>) -> Result<bool, EvalError> {
        let bindings = Bindings {
            variables: &self.variables,
            values: self
                .variables
                .iter()
                .map(|variable| bind(variable, input))
                .collect(),
        };
        let mut context = Context::with_env(Arc::clone(&self.env));
        context.set_variable_resolver(&bindings);

        let outcome = guarded(|| {
            let value = Value::resolve_val(self.program.expression(), &context)?;
            Ok::<_, ExecutionError>(match value.downcast_ref::<CelBool>() {
                Some(b) => Ok(*b.inner()),
                None => Err(value.get_type().name().to_owned()),
            })
        });
        match outcome {
            Ok(Ok(Ok(matched))) => Ok(matched),
            Ok(Ok(Err(found))) => Err(EvalError::NotBool { found }),
            Ok(Err(error)) => Err(self.classify(error, &bindings)),
            Err(message) => Err(EvalError::Panicked { message }),
        }
    }

    /// Evaluates the condition, counting any error as "no match" and logging it.
    ///
    /// A name missing from the event is logged at `debug`, because a filter that sees
    /// events of several shapes meets it all the time; anything else is logged at `warn`,
    /// as it usually means the expression is wrong for the events it sees.
    pub fn matches(&self, input: &ConditionInput<'_>) -> bool {
        match self.evaluate(input) {
            Ok(matched) => matched,
            Err(error @ EvalError::UnknownVariable { .. }) => {
                tracing::debug!(condition = %self.source, event_type = input.event_type, %error,
                    "condition did not match: evaluation failed");
                false
            }
            Err(error) => {
                tracing::warn!(condition = %self.source, event_type = input.event_type, %error,
                    "condition did not match: evaluation failed");
                false
            }
        }
    }

    /// Turns cel's "undeclared reference" for one of our unbound variables into the
    /// clearer [`EvalError::UnknownVariable`]. The same cel error also covers unknown
    /// functions, which keep cel's wording.
    fn classify(&self, error: ExecutionError, bindings: &Bindings<'_>) -> EvalError {
        if let ExecutionError::UndeclaredReference(name) = &error {
            let unbound = self
                .variables
                .iter()
                .zip(&bindings.values)
                .any(|(variable, value)| value.is_none() && *variable.name == **name);
            if unbound {
                return EvalError::UnknownVariable {
                    name: name.to_string(),
                };
            }
        }
        EvalError::Execution(error)
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

/// Two conditions are equal when they were compiled from the same source, which makes
/// settings that hold conditions comparable in tests.
impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Condition {}

/// The values of a condition's variables for one event, handed to cel as its resolver.
///
/// A resolver rather than `Context::add_variable`, because cel then borrows each value
/// instead of taking an owned `String` name and a boxed value into a map per variable.
struct Bindings<'a> {
    variables: &'a [Variable],
    /// `values[i]` is the value of `variables[i]`, `None` if the event has no such name.
    values: Vec<Option<Box<dyn Val + 'a>>>,
}

impl VariableResolver for Bindings<'_> {
    fn resolve<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'b>> {
        // A linear scan: a condition names a handful of variables, fewer than it would
        // take for hashing to pay off.
        let index = self.variables.iter().position(|v| *v.name == *name)?;
        let value = self.values.get(index)?.as_deref()?;
        Some(CowVal::Borrowed(value))
    }
}

/// The value `variable` has for this event, converted from JSON as far as the expression
/// can observe it.
fn bind<'a>(variable: &Variable, input: &ConditionInput<'a>) -> Option<Box<dyn Val + 'a>> {
    let projection = &variable.projection;
    match variable.source {
        VariableSource::EventType => Some(Box::new(CelString::from(input.event_type))),
        VariableSource::Payload => Some(project(input.payload, projection)),
        VariableSource::Labels => Some(project_object(input.labels, projection)),
        VariableSource::LabelOrField => input
            .labels
            .get(&*variable.name)
            .or_else(|| input.payload.as_object()?.get(&*variable.name))
            .map(|json| project(json, projection)),
    }
}

/// A located syntax error from one of cel's.
///
/// Built from the fields rather than from cel's `Display`, which also draws a caret line
/// and pads it by the column as a `usize`: a negative column, which cel uses for errors
/// without a position, would ask for an absurd amount of padding.
fn syntax_error(error: &cel::ParseError) -> SyntaxError {
    SyntaxError {
        line: usize::try_from(error.pos.0).unwrap_or(1).max(1),
        column: usize::try_from(error.pos.1).unwrap_or(1).max(1),
        message: tidy_parse_message(&error.msg),
    }
}

/// cel prefixes every message with "Syntax error: " (we say that ourselves), and wraps its
/// recursion-limit error in the `Debug` output of another error; keep only the message.
fn tidy_parse_message(msg: &str) -> String {
    let msg = msg.strip_prefix("Syntax error: ").unwrap_or(msg);
    if msg.starts_with("OtherError(")
        && let Some(start) = msg.find("msg: \"")
    {
        let inner = &msg[start + "msg: \"".len()..];
        if let Some(end) = inner.find('"') {
            return format!("{} (the expression is nested too deeply)", &inner[..end]);
        }
    }
    msg.to_owned()
}

/// The kind of literal `expr` is, if it is one that can never be a boolean.
fn non_boolean_literal(expr: &Expr) -> Option<&'static str> {
    match expr {
        Expr::Literal(LiteralValue::Boolean(_)) => None,
        Expr::Literal(LiteralValue::Bytes(_)) => Some("bytes"),
        Expr::Literal(LiteralValue::Double(_)) => Some("double"),
        Expr::Literal(LiteralValue::Int(_)) => Some("int"),
        Expr::Literal(LiteralValue::Null) => Some("null"),
        Expr::Literal(LiteralValue::String(_)) => Some("string"),
        Expr::Literal(LiteralValue::UInt(_)) => Some("uint"),
        Expr::List(_) => Some("list"),
        Expr::Map(_) => Some("map"),
        _ => None,
    }
}

/// Runs `f`, turning a panic into its message.
///
/// cel is a large interpreter we do not control: a panic in it must cost one event its
/// match (or fail one `klaxon check`), not take down the worker. Only read-only borrows
/// cross into `f`, so a panic cannot leave shared state half-updated, which is what makes
/// `AssertUnwindSafe` sound here. (This relies on unwinding: the crate does not set
/// `panic = "abort"`.)
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        if let Some(s) = panic.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = panic.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic without a message".to_owned()
        }
    })
}

#[cfg(test)]
mod tests;
