//! The OpenAPI document, generated from the handlers' annotations.

use std::sync::OnceLock;

use utoipa::OpenApi;

use crate::routes;
use crate::wire;

/// Every route the router serves, as (method, path). A test checks each
/// is routed and documented.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/streams"),
    ("post", "/v1/streams/{stream}"),
    ("get", "/v1/streams/{stream}"),
    ("get", "/v1/streams/{stream}/info"),
    ("get", "/v1/streams/{stream}/state"),
    ("get", "/v1/streams/{stream}/history"),
    ("get", "/v1/streams/{stream}/diff"),
    ("get", "/v1/streams/{stream}/blame"),
    ("get", "/v1/streams/{stream}/watch"),
    ("get", "/v1/streams/{stream}/timeline"),
    ("post", "/v1/append"),
    ("post", "/v1/forks"),
    ("get", "/v1/forks"),
    ("get", "/v1/forks/{name}"),
    ("delete", "/v1/forks/{name}"),
    ("post", "/v1/forks/{name}/skip"),
    ("post", "/v1/forks/{name}/edit"),
    ("get", "/v1/forks/{name}/all"),
    ("get", "/v1/forks/{name}/diff"),
    ("post", "/v1/forks/{name}/streams/{stream}"),
    ("get", "/v1/forks/{name}/streams/{stream}"),
    ("get", "/v1/forks/{name}/streams/{stream}/state"),
    ("get", "/v1/forks/{name}/streams/{stream}/history"),
    ("get", "/v1/forks/{name}/streams/{stream}/diff"),
    ("get", "/v1/forks/{name}/streams/{stream}/blame"),
    ("get", "/v1/forks/{name}/streams/{stream}/watch"),
    ("get", "/v1/forks/{name}/streams/{stream}/timeline"),
    ("put", "/v1/forks/{name}/projections/{projection}"),
    ("get", "/v1/forks/{name}/projections/{projection}"),
    ("delete", "/v1/forks/{name}/projections/{projection}"),
    ("get", "/v1/forks/{name}/projections/{projection}/partitions"),
    ("get", "/v1/forks/{name}/projections/{projection}/journal"),
    ("get", "/v1/forks/{name}/projections/{projection}/state"),
    ("get", "/v1/forks/{name}/projections/{projection}/history"),
    ("get", "/v1/forks/{name}/projections/{projection}/diff"),
    ("get", "/v1/forks/{name}/projections/{projection}/blame"),
    ("get", "/v1/forks/{name}/projections/{projection}/watch"),
    ("get", "/v1/forks/{name}/projections/{projection}/timeline"),
    ("post", "/v1/impact"),
    ("get", "/v1/forks/{name}/session"),
    ("post", "/v1/forks/{name}/session"),
    ("post", "/v1/snapshots"),
    ("get", "/v1/snapshots"),
    ("get", "/v1/snapshots/{id}"),
    ("delete", "/v1/snapshots/{id}"),
    ("get", "/v1/all"),
    ("get", "/v1/position"),
    ("get", "/v1/info"),
    ("get", "/v1/subscribe"),
    ("get", "/v1/projections"),
    ("put", "/v1/projections/{name}"),
    ("get", "/v1/projections/{name}"),
    ("delete", "/v1/projections/{name}"),
    ("post", "/v1/projections/{name}/{action}"),
    ("post", "/v1/projections/{name}/dry-run"),
    ("post", "/v1/projections/{name}/verify"),
    ("get", "/v1/projections/{name}/state"),
    ("get", "/v1/projections/{name}/history"),
    ("get", "/v1/projections/{name}/diff"),
    ("get", "/v1/projections/{name}/blame"),
    ("get", "/v1/projections/{name}/watch"),
    ("get", "/v1/projections/{name}/timeline"),
    ("get", "/v1/projections/{name}/partitions"),
    ("get", "/v1/projections/{name}/parked"),
    ("post", "/v1/projections/{name}/parked/{position}/{action}"),
    ("get", "/v1/projections/{name}/parked/{position}/case"),
    ("get", "/v1/projections/{name}/fixture"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

#[derive(OpenApi)]
#[openapi(
    info(title = "Hindsight", description = "Event store with time-travel debugging: HTTP API v1"),
    paths(
        routes::append::append,
        routes::append::append_multi,
        routes::read::read_stream,
        routes::read::stream_info,
        routes::forks::create,
        routes::forks::list,
        routes::forks::get,
        routes::forks::delete,
        routes::forks::skip,
        routes::forks::edit,
        routes::forks::read_all,
        routes::forks::diff,
        routes::forks::append,
        routes::forks::read_stream,
        routes::whatif::put_projection,
        routes::whatif::get_projection,
        routes::whatif::delete_projection,
        routes::whatif::partitions,
        routes::whatif::journal,
        routes::whatif::state_at,
        routes::whatif::history,
        routes::whatif::diff,
        routes::whatif::blame,
        routes::whatif::watch,
        routes::whatif::impact,
        routes::sessions::export,
        routes::sessions::import,
        routes::time::fork_state,
        routes::time::fork_history,
        routes::time::fork_diff,
        routes::time::fork_blame,
        routes::time::fork_watch,
        routes::snapshots::create,
        routes::snapshots::list,
        routes::snapshots::get,
        routes::snapshots::delete,
        routes::time::state,
        routes::time::history,
        routes::time::diff,
        routes::time::blame,
        routes::time::watch,
        routes::time::projection_history,
        routes::time::projection_diff,
        routes::time::projection_blame,
        routes::time::projection_watch,
        routes::timeline::stream,
        routes::streams::find,
        routes::timeline::projection,
        routes::timeline::fork_stream,
        routes::timeline::fork_projection,
        routes::read::read_all,
        routes::read::position,
        routes::ops::info,
        routes::subscribe::subscribe,
        routes::projections::list,
        routes::projections::put,
        routes::projections::get,
        routes::projections::delete,
        routes::projections::control,
        routes::projections::state,
        routes::projections::partitions,
        routes::projections::parked,
        routes::projections::parked_action,
        routes::projections::case,
        routes::projections::fixture,
        routes::projections::dry_run,
        routes::projections::verify,
        routes::ops::health,
        routes::ops::ready,
        routes::ops::metrics,
        routes::ops::openapi,
    ),
    components(schemas(
        wire::AppendRequest,
        wire::SnapshotCreate,
        wire::ForkCreate,
        wire::ForkSkip,
        wire::ForkEdit,
        wire::ForkProjectionPut,
        wire::ImpactRequest,
        wire::EventIn,
        wire::ExpectedVersionIn,
        wire::MultiAppendRequest,
        wire::AppendPartIn,
        wire::AppendResponse,
        wire::MultiAppendResponse,
        wire::EventOut,
        wire::ReadStreamResponse,
        wire::ReadAllResponse,
        wire::StreamInfoResponse,
        wire::PositionResponse,
        wire::InfoResponse,
        wire::StatusResponse,
        wire::ErrorBody,
        wire::ProjectionPut,
        wire::DryRunRequest,
    ))
)]
struct ApiDoc;

pub fn openapi_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        name_operations(&mut doc);
        doc.to_pretty_json().unwrap_or_else(|_| "{}".into())
    })
    .clone()
}

/// Gives every operation an id made of its method and path
/// (`get_forks_name_streams_stream_timeline`): handlers in different
/// modules share names (`diff`, `list`, ...), and OpenAPI wants each
/// operation's id unique, as code generators key types by it.
fn name_operations(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let words: Vec<&str> = path
            .split('/')
            .filter(|w| !w.is_empty() && *w != "v1")
            .map(|w| w.trim_start_matches('{').trim_end_matches('}'))
            .collect();
        let name = words.join("_").replace('-', "_");
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, operation) in operations {
            if let Some(op) = operation {
                op.operation_id = Some(format!("{method}_{name}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
        for (method, path) in ROUTES {
            assert!(doc["paths"][path][method].is_object(), "{method} {path} is missing from /openapi.json");
        }
        let documented: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(documented, ROUTES.len(), "/openapi.json documents a route the router does not list");
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|p| p.as_object().unwrap().values().map(|op| op["operationId"].as_str().unwrap()))
            .collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "every operation has an id of its own");
        assert!(ids.contains(&"get_forks_name_projections_projection_timeline"), "{ids:?}");
        // Query structs are documented as query parameters, not path ones.
        for (path, item) in doc["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["in"] == "path" {
                        let name = p["name"].as_str().unwrap();
                        assert!(path.contains(&format!("{{{name}}}")), "{path} documents {name} in its path");
                    }
                }
            }
        }
    }
}
