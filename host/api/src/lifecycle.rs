//! The tenant's lifecycle hooks on the REST object routes: the same `before` and `after` hooks
//! Data over MQTT asks, so a rule holds whichever door a request comes through. Built-in
//! types (clients, subscribers, devices, hooks) are the administrator's and are not put to
//! hooks: a hook could otherwise lock its own tenant out of removing it.
//!
//! A refusal answers 403 (`denied`, `hook_error`) or the status of the code the hook chose
//! (`not_found` 404, `conflict` 409, `invalid_message` 422, `quota` 429), with the hook's
//! message.

use crate::AppState;
use crate::error::{ApiError, Result};
use axum::http::StatusCode;
use serde_json::{Map, Value};
use switchyard_lifecycle::{Caller, CallerKind, Lifecycle, Operation, Refusal, Request};
use switchyard_model::When;
use switchyard_store::Query;

/// One REST request as the hooks saw it, to tell them how it went.
pub(crate) struct Hooked {
    lifecycle: Lifecycle,
    /// The request as the `before` hooks left it; `None` when no hook hears it.
    request: Option<Request>,
    after: bool,
}

impl Hooked {
    /// Asks the `before` hooks of `state`'s tenant about `operation` on `type_name`, with what
    /// `fill` says of the request.
    pub(crate) async fn before(
        state: &AppState,
        operation: Operation,
        type_name: &str,
        fill: impl FnOnce(&mut Request),
    ) -> Result<Hooked> {
        let lifecycle = state.lifecycle.clone();
        let hooked = |when| {
            !state.store.is_builtin(type_name)
                && lifecycle.hooked(&state.tenant, when, operation, type_name)
        };
        let (before, after) = (hooked(When::Before), hooked(When::After));
        if !before && !after {
            return Ok(Hooked {
                lifecycle,
                request: None,
                after,
            });
        }
        let caller = Caller {
            kind: CallerKind::Token,
            name: state.role.to_owned(),
            tenant: state.tenant.clone(),
        };
        let mut request = Request::new(operation, caller, type_name);
        fill(&mut request);
        if before {
            request = lifecycle.before(request).await.map_err(refused)?;
        }
        Ok(Hooked {
            lifecycle,
            request: Some(request),
            after,
        })
    }

    /// The properties to write, as the hooks left them (`given` if no hook heard).
    pub(crate) fn data(&self, given: Value) -> Value {
        match self.request.as_ref().and_then(|r| r.data.clone()) {
            Some(data) => Value::Object(data),
            None => given,
        }
    }

    /// The query to run, with the filters the hooks added.
    pub(crate) fn query(&self, given: Query) -> Query {
        match &self.request {
            Some(request) => Query {
                total: given.total,
                ..request.query.clone()
            },
            None => given,
        }
    }

    /// What a request about one object must find it passing: the filters hooks added.
    pub(crate) fn within(&self) -> Query {
        self.query(Query::default())
    }

    /// Tells the `after` hooks how it went; `shown` is what the caller gets on success.
    pub(crate) async fn after<T>(
        self,
        outcome: Result<T>,
        shown: impl FnOnce(&T) -> Value,
    ) -> Result<T> {
        let (true, Some(request)) = (self.after, &self.request) else {
            return outcome;
        };
        match &outcome {
            Ok(value) => self.lifecycle.after(request, Ok(&shown(value))).await,
            Err(error) => {
                let refusal = Refusal {
                    code: code(error.status()),
                    message: error.message().to_owned(),
                };
                self.lifecycle.after(request, Err(&refusal)).await;
            }
        }
        outcome
    }
}

/// A map of properties as a request's data.
pub(crate) fn data_of(value: &Value) -> Option<Map<String, Value>> {
    value.as_object().cloned()
}

fn refused(refusal: Refusal) -> ApiError {
    let status = match refusal.code {
        "not_found" => StatusCode::NOT_FOUND,
        "conflict" => StatusCode::CONFLICT,
        "invalid_message" => StatusCode::UNPROCESSABLE_ENTITY,
        "quota" => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::new(status, format!("{} ({})", refusal.message, refusal.code))
}

/// Data over MQTT's error code for an API error's status, for the `after` hooks.
fn code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => "conflict",
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "invalid_message",
        StatusCode::FORBIDDEN => "denied",
        StatusCode::TOO_MANY_REQUESTS => "quota",
        _ => "internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_answers_the_status_of_its_code() {
        let status = |code| {
            let refusal = Refusal {
                code,
                message: "no".into(),
            };
            refused(refusal).status()
        };
        assert_eq!(status("denied"), StatusCode::FORBIDDEN);
        assert_eq!(status("hook_error"), StatusCode::FORBIDDEN);
        assert_eq!(status("not_found"), StatusCode::NOT_FOUND);
        assert_eq!(status("conflict"), StatusCode::CONFLICT);
        assert_eq!(status("invalid_message"), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status("quota"), StatusCode::TOO_MANY_REQUESTS);
    }
}
