//! An example of lifecycle hooks (the `lifecycle-hooks` world of `wit/plugin.wit`), and the
//! fixture the lifecycle tests attach: MQTTSpec's tenant example, where several customers share
//! one set of `Note` objects and each sees only its own. `plugins/guard-as` is its
//! AssemblyScript twin, deciding the same.
//!
//! | asked | decides |
//! |---|---|
//! | before anything on `Trap` | traps |
//! | before `read` or `subscribe` of `Note` | adds the filter `tenant_id eq <tenant>` (so another tenant's note is not found) |
//! | before `create` of `Note` | writes the data with `tenant_id: <tenant>` (replacing any given) |
//! | before `update` of `Note` | writes the data without `tenant_id`, and adds the same filter |
//! | before `delete` of `Note` | denies: `denied`, `notes are never deleted` |
//! | before `connect` by a caller whose name starts with `blocked` | denies: `denied`, `blocked device` |
//! | after `create`, `update` or `delete` of `Note` | creates an `AuditEntry` `{operation, entity, recordId, caller, success}` |
//! | after `connect` or `disconnect` | creates an `AuditEntry` (entity and recordId empty, success true) |
//! | anything else | allows |
//!
//! `<tenant>` is the caller's name up to its first `-` (`acme-door` is `acme`'s).

use switchyard_sdk::lifecycle::{Decision, Lifecycle, Operation, Request};
use switchyard_sdk::objects;
use switchyard_sdk::serde_json::{Value, json};

struct Guard;

/// The customer a caller belongs to.
fn tenant_of(request: &Request) -> &str {
    let name = request.caller.name.as_str();
    name.split('-').next().unwrap_or(name)
}

fn audit(
    operation: &str,
    entity: &str,
    record_id: &str,
    caller: &str,
    success: bool,
) -> Result<(), String> {
    let entry = json!({
        "operation": operation,
        "entity": entity,
        "recordId": record_id,
        "caller": caller,
        "success": success,
    });
    objects::create("AuditEntry", &entry)
        .map(drop)
        .map_err(|e| format!("creating the audit entry failed: {e}"))
}

impl Lifecycle for Guard {
    fn before(request: &Request) -> Result<Decision, String> {
        if request.entity == "Trap" {
            panic!("the guard traps on {:?} of Trap", request.operation);
        }
        let tenant = tenant_of(request);
        let own = || vec![json!({"column": "tenant_id", "operator": "eq", "value": tenant})];
        Ok(match (request.operation, request.entity.as_str()) {
            (Operation::Read | Operation::Subscribe, "Note") => Decision::with_filters(own()),
            (Operation::Create, "Note") => {
                let mut data = request.data_map();
                data.insert("tenant_id".into(), Value::from(tenant));
                Decision::with_data(data)
            }
            (Operation::Update, "Note") => {
                let mut data = request.data_map();
                data.remove("tenant_id");
                Decision::Modify {
                    data: Some(data),
                    filters: own(),
                }
            }
            (Operation::Delete, "Note") => Decision::deny("denied", "notes are never deleted"),
            (Operation::Connect, _) if request.caller.name.starts_with("blocked") => {
                Decision::deny("denied", "blocked device")
            }
            _ => Decision::Allow,
        })
    }

    fn after(request: &Request, outcome: &Value) -> Result<(), String> {
        let success = outcome["success"].as_bool() == Some(true);
        let caller = &request.caller.name;
        match (request.operation, request.entity.as_str()) {
            (Operation::Create | Operation::Update | Operation::Delete, "Note") => {
                let operation = match request.operation {
                    Operation::Create => "create",
                    Operation::Update => "update",
                    _ => "delete",
                };
                let record_id = match request.operation {
                    Operation::Create => outcome["data"]["id"].as_str().unwrap_or_default(),
                    _ => request.record_id.as_str(),
                };
                audit(operation, "Note", record_id, caller, success)
            }
            (Operation::Connect, _) => audit("connect", "", "", caller, true),
            (Operation::Disconnect, _) => audit("disconnect", "", "", caller, true),
            _ => Ok(()),
        }
    }
}

switchyard_sdk::lifecycle!(Guard);
