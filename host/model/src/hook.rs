//! `LifecycleHook`: attaches a tenant's plugin of the `lifecycle-hooks` world to some of
//! MQTTSpec's points (`beforeCreate`, `afterDelete`, ...), for all of the tenant's object types
//! or the ones it names.

use crate::schema::{PLUGIN_NAME_EXPECTED, Props, is_plugin_name, is_type_name};
use crate::{LIFECYCLE_HOOK, Object, text};
use serde_json::Value;

/// The operations a hook can be attached to, in the order of the WIT `operation` enum.
pub const OPERATIONS: [&str; 8] = [
    "connect",
    "disconnect",
    "read",
    "create",
    "update",
    "delete",
    "subscribe",
    "unsubscribe",
];

/// When a hook is asked: before an operation (it may refuse or change it) or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum When {
    Before,
    After,
}

/// The parts of a `LifecycleHook` the host acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleHook {
    pub id: String,
    pub plugin: String,
    /// `(when, operation)`, the operation one of [`OPERATIONS`].
    pub points: Vec<(When, &'static str)>,
    /// The object types it is asked about; empty for all.
    pub entities: Vec<String>,
    pub enabled: bool,
}

impl LifecycleHook {
    /// Reads a stored `LifecycleHook` (validated on write); `None` for anything else.
    pub fn of(object: &Object) -> Option<LifecycleHook> {
        if crate::type_of(object) != LIFECYCLE_HOOK {
            return None;
        }
        let strings = |key: &str| {
            let list = object.get(key).and_then(Value::as_array);
            list.into_iter().flatten().filter_map(Value::as_str)
        };
        Some(LifecycleHook {
            id: text(object, "id")?.to_owned(),
            plugin: text(object, "plugin")?.to_owned(),
            points: strings("points").filter_map(point).collect(),
            entities: strings("entities").map(str::to_owned).collect(),
            enabled: object.get("isEnabled").and_then(Value::as_bool) != Some(false),
        })
    }

    /// Whether it is asked at `when` `operation` about `entity` (empty for connect and
    /// disconnect, which every hook attached to them hears).
    pub fn hears(&self, when: When, operation: &str, entity: &str) -> bool {
        self.enabled
            && self.points.contains(&(when, operation))
            && (entity.is_empty()
                || self.entities.is_empty()
                || self.entities.iter().any(|e| e == entity))
    }

    /// Fills in the defaults a stored hook shows.
    pub fn apply_defaults(object: &mut Object) {
        object
            .entry("entities")
            .or_insert_with(|| Value::Array(Vec::new()));
        object.entry("isEnabled").or_insert(Value::Bool(true));
    }

    /// Checks a hook's properties; the message names the property.
    pub fn validate(object: &Object) -> Result<(), String> {
        let props = Props::new(LIFECYCLE_HOOK, object);
        props.string("name")?;
        let plugin = props.required_string("plugin")?;
        props.check(is_plugin_name(plugin), "plugin", PLUGIN_NAME_EXPECTED)?;
        let expected = "`before` or `after` and an operation, e.g. `beforeCreate`";
        match object.get("points") {
            Some(Value::Array(points)) if !points.is_empty() => {
                props.list("points", expected, |v| v.as_str().and_then(point).is_some())?
            }
            _ => return Err(props.invalid("points", &format!("a non-empty list, each {expected}"))),
        }
        props.list("entities", "a type name", |v| {
            v.as_str().is_some_and(is_type_name)
        })?;
        props.bool("isEnabled")
    }
}

/// `beforeCreate` as `(Before, "create")`.
fn point(name: &str) -> Option<(When, &'static str)> {
    let (when, rest) = match name.strip_prefix("before") {
        Some(rest) => (When::Before, rest),
        None => (When::After, name.strip_prefix("after")?),
    };
    let operation = OPERATIONS.iter().find(|op| {
        let mut chars = rest.chars();
        chars.next().is_some_and(|c| c.is_ascii_uppercase()) && rest.eq_ignore_ascii_case(op)
    })?;
    Some((when, operation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Object {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn points_read_as_when_and_operation() {
        assert_eq!(point("beforeCreate"), Some((When::Before, "create")));
        assert_eq!(
            point("afterUnsubscribe"),
            Some((When::After, "unsubscribe"))
        );
        assert_eq!(point("beforecreate"), None);
        assert_eq!(point("duringCreate"), None);
        assert_eq!(point("beforeMeta"), None);
    }

    #[test]
    fn a_hook_names_its_plugin_and_points() {
        let good = json!({"type": LIFECYCLE_HOOK, "plugin": "guard", "points": ["beforeRead"]});
        assert_eq!(LifecycleHook::validate(&object(good)), Ok(()));
        let no_points = json!({"type": LIFECYCLE_HOOK, "plugin": "guard", "points": []});
        let error = LifecycleHook::validate(&object(no_points)).unwrap_err();
        assert!(error.contains("LifecycleHook.points"), "{error}");
        let bad = json!({"type": LIFECYCLE_HOOK, "plugin": "guard", "points": ["beforeRead", "whenever"]});
        let error = LifecycleHook::validate(&object(bad)).unwrap_err();
        assert!(error.contains("LifecycleHook.points[1]"), "{error}");
        let no_plugin = json!({"type": LIFECYCLE_HOOK, "points": ["afterCreate"]});
        let error = LifecycleHook::validate(&object(no_plugin)).unwrap_err();
        assert!(error.contains("LifecycleHook.plugin"), "{error}");
    }

    #[test]
    fn a_hook_hears_its_points_and_entities() {
        let mut stored = object(
            json!({"id": "h1", "type": LIFECYCLE_HOOK, "plugin": "guard",
            "points": ["beforeRead", "afterConnect"], "entities": ["Note"]}),
        );
        LifecycleHook::apply_defaults(&mut stored);
        let hook = LifecycleHook::of(&stored).unwrap();
        assert!(hook.hears(When::Before, "read", "Note"));
        assert!(!hook.hears(When::Before, "read", "Order"));
        assert!(!hook.hears(When::After, "read", "Note"));
        assert!(hook.hears(When::After, "connect", ""));
    }
}
