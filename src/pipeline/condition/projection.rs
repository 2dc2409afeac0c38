//! How much of an event's JSON a condition needs, and its conversion to CEL values.
//!
//! Converting a whole 2 KB payload costs about 5 µs, a quarter of the per-event budget, while
//! a typical condition looks at two or three strings of it. At compile time
//! [`collect_uses`] works out, for each variable, which fields the expression can observe;
//! at evaluation [`project`] converts just those, borrowing strings from the JSON.
//!
//! It knows nothing of labels, events or where a variable's value comes from: that is the
//! parent module's business.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr, MapExpr, StructExpr};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use serde_json::{Map, Value as Json};

/// How much of a variable's value an expression can observe.
///
/// A use of a variable that is only a chain of field selections (`a.b.c`, `has(a.b.c)`)
/// needs only those fields; any other use (`size(a)`, `a == b`, `"k" in a`, `a.exists(..)`,
/// `a["k"]`) needs the whole value. Converting less never changes a result, because a
/// selection can only see the fields it names.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Projection {
    /// Only whether it is there: the last field of `has(a.b.c)`.
    Presence,
    /// Only these fields of it, if it is a map; all of it otherwise.
    Fields(BTreeMap<Box<str>, Projection>),
    /// All of it.
    Whole,
}

impl Projection {
    fn merge(&mut self, other: Projection) {
        match (&mut *self, other) {
            (Projection::Whole, _) | (_, Projection::Presence) => {}
            (Projection::Fields(mine), Projection::Fields(theirs)) => {
                for (field, projection) in theirs {
                    match mine.entry(field) {
                        Entry::Occupied(mut entry) => entry.get_mut().merge(projection),
                        Entry::Vacant(entry) => {
                            entry.insert(projection);
                        }
                    }
                }
            }
            (_, other) => *self = other,
        }
    }
}

/// Records, for every identifier in `expr`, how much of its value `expr` can observe.
///
/// A name bound by a comprehension (`t` in `tags.exists(t, ..)`) is recorded too, and may
/// widen what is converted for a variable of the same name, which costs time but never
/// changes a result.
pub(super) fn collect_uses<'e>(expr: &'e IdedExpr, uses: &mut BTreeMap<&'e str, Projection>) {
    match &expr.expr {
        Expr::Ident(_) | Expr::Select(_) => {
            // Walk a chain of selections down to its root, outermost field first.
            let mut leaf = Projection::Whole;
            let mut fields = Vec::new();
            let mut node = expr;
            if let Expr::Select(select) = &node.expr
                && select.test
            {
                leaf = Projection::Presence;
                fields.push(select.field.as_str());
                node = &select.operand;
            }
            loop {
                match &node.expr {
                    Expr::Select(select) if !select.test => {
                        fields.push(select.field.as_str());
                        node = &select.operand;
                    }
                    Expr::Ident(name) => {
                        let projection = fields.into_iter().fold(leaf, |inner, field| {
                            Projection::Fields(BTreeMap::from([(field.into(), inner)]))
                        });
                        match uses.entry(name.as_str()) {
                            Entry::Occupied(mut entry) => entry.get_mut().merge(projection),
                            Entry::Vacant(entry) => {
                                entry.insert(projection);
                            }
                        }
                        return;
                    }
                    // A chain rooted in something else, `f(x).a` or `has(a.b).c`: the
                    // fields select on a computed value, so only the root has uses.
                    _ => return collect_uses(node, uses),
                }
            }
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                collect_uses(target, uses);
            }
            for arg in &call.args {
                collect_uses(arg, uses);
            }
        }
        Expr::Comprehension(comprehension) => {
            for part in [
                &comprehension.iter_range,
                &comprehension.accu_init,
                &comprehension.loop_cond,
                &comprehension.loop_step,
                &comprehension.result,
            ] {
                collect_uses(part, uses);
            }
        }
        Expr::List(list) => {
            for element in &list.elements {
                collect_uses(element, uses);
            }
        }
        Expr::Map(MapExpr { entries }) | Expr::Struct(StructExpr { entries, .. }) => {
            for entry in entries {
                match &entry.expr {
                    EntryExpr::MapEntry(entry) => {
                        collect_uses(&entry.key, uses);
                        collect_uses(&entry.value, uses);
                    }
                    EntryExpr::StructField(field) => collect_uses(&field.value, uses),
                }
            }
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// `json` converted as far as `projection` asks.
pub(super) fn project<'a>(json: &'a Json, projection: &Projection) -> Box<dyn Val + 'a> {
    match (projection, json) {
        // `has()` only asks the parent map whether the key is there; the value is never
        // looked at, so any value will do.
        (Projection::Presence, _) => Box::new(CelNull),
        (Projection::Fields(_), Json::Object(map)) => project_object(map, projection),
        _ => json_to_val(json),
    }
}

pub(super) fn project_object<'a>(
    map: &'a Map<String, Json>,
    projection: &Projection,
) -> Box<dyn Val + 'a> {
    let Projection::Fields(fields) = projection else {
        return object_to_val(map);
    };
    let entries: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = fields
        .iter()
        .filter_map(|(field, projection)| {
            let (key, value) = map.get_key_value(&**field)?;
            Some((CelMapKey::from(key.as_str()), project(value, projection)))
        })
        .collect();
    Box::new(CelMap::from(entries))
}

/// Converts JSON to a CEL value, borrowing strings from the JSON rather than copying them.
///
/// A JSON number becomes an `int` if it is an integer that fits, else a `uint` if it fits
/// that, else a `double`, so `50000` in a payload equals the CEL literal `50000`; CEL also
/// compares across the three numeric types, so `amount > 100.5` works on an `int` too.
fn json_to_val(json: &Json) -> Box<dyn Val + '_> {
    match json {
        Json::Null => Box::new(CelNull),
        Json::Bool(b) => Box::new(CelBool::from(*b)),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                // Without serde_json's arbitrary_precision every number is one of the three,
                // so this NaN is unreachable; it keeps the conversion total.
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Json::String(s) => Box::new(CelString::from(s.as_str())),
        Json::Array(items) => Box::new(CelList::from(
            items.iter().map(json_to_val).collect::<Vec<_>>(),
        )),
        Json::Object(map) => object_to_val(map),
    }
}

fn object_to_val(map: &Map<String, Json>) -> Box<dyn Val + '_> {
    let entries: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = map
        .iter()
        .map(|(key, value)| (CelMapKey::from(key.as_str()), json_to_val(value)))
        .collect();
    Box::new(CelMap::from(entries))
}
